# Copyright (c) mmautomot contributors. All rights reserved.
"""Planning labels of one frame of a CARLA route (ego frame: x forward, y left, metres)."""

from typing import Dict, List

import numpy as np

from mmautomot.structures import derive_meta_actions
from mmautomot.structures.geometry import resample_polyline, world_to_ego, wrap_angle


def frame_offsets(fps: float, dt: float) -> int:
    """Frames per ``dt`` seconds at ``fps`` (e.g. 10 Hz, 0.5 s -> 5)."""
    step = int(round(fps * dt))
    if step < 1 or abs(step - fps * dt) > 1e-6:
        raise ValueError(f'{dt} s is not a whole number of frames at {fps} Hz')
    return step


def ego_status_from_poses(frames: List[dict], i: int, fps: float) -> np.ndarray:
    """(4,) speed (annotated), lon acc, lat acc (m/s^2, ego frame) and yaw rate (rad/s, CCW +) from
    central differences of the poses (one-sided at the route ends)."""
    n = len(frames)
    a, b = max(0, i - 1), min(n - 1, i + 1)
    if b == a:
        return np.array([frames[i]['speed'], 0, 0, 0], np.float32)
    dt = (b - a) / fps
    yaw_rate = float(wrap_angle(frames[b]['ego_yaw'] - frames[a]['ego_yaw'])) / dt

    def vel(j):
        j0, j1 = max(0, j - 1), min(n - 1, j + 1)
        if j1 == j0:
            return np.zeros(2)
        return (frames[j1]['ego_xyz'][:2] - frames[j0]['ego_xyz'][:2]) * fps / (j1 - j0)

    acc_world = (vel(b) - vel(a)) / dt
    acc = world_to_ego(acc_world[None] + frames[i]['ego_xyz'][:2], frames[i]['ego_xyz'][:2], frames[i]['ego_yaw'])[0]
    return np.array([frames[i]['speed'], acc[0], acc[1], yaw_rate], np.float32)


def frame_labels(
    frames: List[dict],
    i: int,
    fps: float,
    fut_steps: int = 6,
    hist_steps: int = 4,
    plan_dt: float = 0.5,
    path_points: int = 20,
    path_spacing: float = 1.0,
    max_agent_distance: float = 50.0,
) -> Dict[str, np.ndarray]:
    """The ``docs/contracts.md`` planning fields of frame ``i`` of a route.

    Future / history every ``plan_dt`` s (masked past the route end; history clamps to the first
    frame); the spatial path is resampled every ``path_spacing`` m along all future ego positions
    (masked past the last one); agents within ``max_agent_distance`` m are matched by id in the future
    frames.
    """
    step = frame_offsets(fps, plan_dt)
    cur = frames[i]
    exy, eyaw = cur['ego_xyz'][:2], cur['ego_yaw']
    n = len(frames)
    fut_idx = [i + k * step for k in range(1, fut_steps + 1)]
    fut_mask = np.array([j < n for j in fut_idx], np.float32)
    fut_world = np.array([frames[min(j, n - 1)]['ego_xyz'][:2] for j in fut_idx])
    fut = world_to_ego(fut_world, exy, eyaw).astype(np.float32)
    fut[fut_mask == 0] = 0.0
    hist_world = np.array([frames[max(0, i - k * step)]['ego_xyz'][:2] for k in range(hist_steps, 0, -1)])
    hist = world_to_ego(hist_world, exy, eyaw).astype(np.float32)
    future_all = np.array([f['ego_xyz'][:2] for f in frames[i + 1 :]]).reshape(-1, 2)
    path, path_mask = resample_polyline(world_to_ego(future_all, exy, eyaw), path_spacing, path_points)
    if cur.get('target_ego') is not None:
        target = np.asarray(cur['target_ego'], np.float32)
    else:
        target = world_to_ego(cur['target_world'], exy, eyaw)[0].astype(np.float32)
    status = ego_status_from_poses(frames, i, fps)
    # agents
    boxes, labels, ftraj, fyaw, fmask = [], [], [], [], []
    future_boxes = [{b['id']: b for b in frames[j]['boxes']} if j < n else {} for j in fut_idx]
    for b in cur['boxes']:
        c = world_to_ego(b['center'][:2], exy, eyaw)[0]
        if np.linalg.norm(c) > max_agent_distance:
            continue
        yaw = float(wrap_angle(b['yaw'] - eyaw))
        boxes.append([c[0], c[1], b['center'][2] - cur['ego_xyz'][2], *b['size'], yaw])
        labels.append(b['label'])
        tr, yw, mk = np.zeros((fut_steps, 2)), np.zeros(fut_steps), np.zeros(fut_steps)
        for k, fb in enumerate(future_boxes):
            if b['id'] in fb:
                tr[k] = world_to_ego(fb[b['id']]['center'][:2], exy, eyaw)[0]
                yw[k] = wrap_angle(fb[b['id']]['yaw'] - eyaw)
                mk[k] = 1
        ftraj.append(tr), fyaw.append(yw), fmask.append(mk)
    nb = len(boxes)
    return dict(
        ego_fut_trajs=fut,
        ego_fut_masks=fut_mask,
        ego_hist_trajs=hist,
        ego_status=status,
        can_bus=False,
        command=int(cur['command']),
        target_point=target,
        meta_actions=derive_meta_actions(fut, fut_mask, float(cur['speed']), dt=plan_dt),
        ego_path=path,
        ego_path_masks=path_mask,
        plan_agent_boxes=np.asarray(boxes, np.float32).reshape(nb, 7),
        plan_agent_labels=np.asarray(labels, np.int64).reshape(nb),
        plan_agent_fut_trajs=np.asarray(ftraj, np.float32).reshape(nb, fut_steps, 2),
        plan_agent_fut_yaws=np.asarray(fyaw, np.float32).reshape(nb, fut_steps),
        plan_agent_fut_masks=np.asarray(fmask, np.float32).reshape(nb, fut_steps),
    )
