# Copyright (c) mmautomot contributors. All rights reserved.
"""A closed-loop driver for the ego-state baselines (constant velocity, ego MLP)."""

import time
from collections import deque
from typing import Dict

import numpy as np
import torch

from mmautomot.structures.geometry import rotation_2d


class EgoPlannerDriver:
    """Run a :class:`~mmautomot.models.planners.base_ego_planner.BaseEgoPlanner` step by step.

    The baselines read ``ego_status`` (4,), ``command`` and ``ego_hist_trajs`` (H, 2): the past ego
    positions every ``plan_dt`` s in the current ego frame, oldest first, clamped to the first tick of the
    route as in the training labels (:func:`mmautomot.datasets.bench2drive.labels.frame_labels`). The
    closed-loop agent sends them (observation ``ego_hist_trajs``, from its state estimate); without them
    (or with another length) the driver dead-reckons a position from the speed and yaw rate of
    ``ego_status`` over ``dt`` per tick. Output: ``waypoints`` (T, 2) and the same points as ``path``
    (no spatial path head); ``meta_actions`` zeros.

    Args:
        model: a built ego planner (``predict_trajs``, ``fut_steps``, ``plan_dt``).
        dt (float): seconds per control tick. Defaults to 0.05 (20 Hz).
        hist_steps (int): history length; defaults to ``model.hist_steps`` (4 if absent).
    """

    def __init__(self, model, dt: float = 0.05, hist_steps: int = None):
        self.model = model.eval()
        self.dt = float(dt)
        self.hist_steps = int(hist_steps if hist_steps is not None else getattr(model, 'hist_steps', 4))
        self.stride = max(1, int(round(model.plan_dt / self.dt)))
        self.poses = deque(maxlen=self.hist_steps * self.stride + 1)
        self.xy, self.yaw = np.zeros(2), 0.0

    def reset(self) -> None:
        self.poses.clear()
        self.xy, self.yaw = np.zeros(2), 0.0

    def _history(self) -> np.ndarray:
        poses = list(self.poses)
        cur_xy, cur_yaw = poses[-1]
        rot = rotation_2d(cur_yaw)
        out = []
        for k in range(self.hist_steps, 0, -1):
            xy, _ = poses[max(0, len(poses) - 1 - k * self.stride)]
            out.append((xy - cur_xy) @ rot)
        return np.asarray(out, np.float32)

    def _observed_history(self, observation: dict) -> np.ndarray:
        """The agent's ``ego_hist_trajs`` when it sends ``hist_steps`` of them, else the dead-reckoned one."""
        hist = observation.get('ego_hist_trajs')
        if hist is not None:
            hist = np.asarray(hist, np.float32)
            if hist.shape == (self.hist_steps, 2):
                return hist
        return self._history()

    @torch.no_grad()
    def step(self, observation: dict) -> Dict:
        t0 = time.perf_counter()
        if observation.get('reset', False):
            self.reset()
        status = observation.get('ego_status')
        if status is None:
            status = np.array([observation['speed'], 0.0, 0.0, 0.0], np.float32)
        status = np.asarray(status, np.float32).reshape(4)
        if self.poses:
            turn = float(status[3]) * self.dt  # midpoint heading: exact chords on a circle
            self.xy = self.xy + rotation_2d(self.yaw + turn / 2)[:, 0] * float(status[0]) * self.dt
            self.yaw += turn
        self.poses.append((self.xy.copy(), self.yaw))
        inputs = dict(
            ego_status=torch.from_numpy(status)[None],
            command=torch.tensor([int(observation['command'])]),
            ego_hist_trajs=torch.from_numpy(self._observed_history(observation))[None],
            target_point=torch.as_tensor(np.asarray(observation['target_point'], np.float32))[None],
        )
        wps = self.model.predict_trajs(inputs)[0].float().cpu().numpy()
        ms = (time.perf_counter() - t0) * 1e3
        return dict(meta_actions=np.zeros((3, 2), np.int64), path=wps, waypoints=wps, timings_ms=dict(total=ms))
