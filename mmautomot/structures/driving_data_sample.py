# Copyright (c) mmautomot contributors. All rights reserved.
"""The one sample type that travels from dataset to model, metric and visualiser."""

from mmengine.structures import BaseDataElement


class DrivingDataSample(BaseDataElement):
    """Annotations and predictions of one driving frame.

    Frames and units (all planning quantities): the **ego frame of the current frame**: origin at the ego
    reference point (nuScenes ``ego_pose`` / rear axle, CARLA vehicle location), **x forward, y left, z up**,
    metres, radians (yaw counter-clockwise from +x), seconds. CARLA's left-handed world is converted to this
    frame by the closed-loop adapter and the Bench2Drive dataset; LiDAR points are transformed into it by
    the pipeline (``lidar2ego`` in the metainfo).

    Metainfo (set once, plain Python / numpy):
        sample_idx (int), token (str), scene_token (str), timestamp (float, s), dataset (str),
        cam_names (list[str], order of ``inputs['imgs']``), lidar2ego (4x4), cam2ego (N_cam x 4x4),
        cam_intrinsics (N_cam x 3x3, for the resized images), img_shape ((H, W) after resize),
        prompt (str, the UE text prompt), command (int, see :mod:`mmautomot.structures.commands`),
        plan_dt (float, seconds between trajectory steps), path_spacing (float, metres between path
        points).

    Data fields (tensors; ``gt_*`` from the dataset, ``pred_*`` from the model):
        gt_ego_fut_trajs (T, 2): future ego positions, T steps every ``plan_dt`` s (nuScenes 6 x 0.5 s).
        gt_ego_fut_masks (T,): 1 where the step exists (0 past the scene end).
        gt_ego_fut_lidar_trajs (T, 2), optional: the future LIDAR_TOP origins in the current ego
            frame (nuScenes; the published planning protocols' trajectory point).
        gt_ego_path (P, 2): spatial path, P points every ``path_spacing`` m along the future
            (AutoMoT: 20 x 1 m); gt_ego_path_masks (P,).
        gt_meta_actions (K, 2) long: (lateral, longitudinal) ids per horizon, -1 = ignore
            (see :mod:`mmautomot.structures.meta_actions`).
        gt_agent_boxes (N, 7): agents at the current frame as (x, y, z_center, length, width, height,
            yaw) in the ego frame; gt_agent_labels (N,) long: nuScenes detection class ids
            (``car, truck, construction_vehicle, bus, trailer, barrier, motorcycle, bicycle,
            pedestrian, traffic_cone``).
        gt_agent_fut_trajs (N, T, 2): agent centres at the future steps, in the *current* ego frame;
            gt_agent_fut_yaws (N, T) (absolute yaw in the current ego frame);
            gt_agent_fut_masks (N, T).
        pred_ego_fut_trajs (T, 2), pred_ego_path (P, 2), pred_meta_actions (K, 2) long,
        pred_meta_action_logits (K, n_lat + n_lon), pred_text (str, in metainfo).

    Model inputs travel next to the sample in ``inputs`` (see
    :class:`mmautomot.datasets.transforms.PackDrivingInputs`):
        img_hist uint8 (N_hist, 3, H, W): front-camera history, oldest first, current frame last.
        imgs uint8 (N_cam, 3, H, W): current cameras in ``cam_names`` order.
        points float32 (N, C): LiDAR (x, y, z, intensity[, time lag]) in the ego frame.
        ego_status float32 (4,): (speed m/s, longitudinal acc m/s^2, lateral acc m/s^2, yaw rate rad/s).
        ego_hist_trajs float32 (H, 2): past ego positions (oldest first; the last one ``plan_dt`` s ago, the
            current position - the origin - not included) in the current ego frame.
        target_point float32 (2,): next route target point in the ego frame (nuScenes: last valid GT
            future point; CARLA: from the route planner).
        command int64 (): index into :data:`mmautomot.structures.COMMANDS`.
    """
