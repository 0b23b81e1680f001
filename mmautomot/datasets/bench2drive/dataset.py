# Copyright (c) mmautomot contributors. All rights reserved.
"""Bench2Drive / PDM-Lite end-to-end datasets (CARLA, closed-loop training data)."""

from mmautomot.registry import DATASETS

from ..nuscenes_e2e_dataset import NuScenesE2EDataset
from .layout import CLASSES
from .rig import B2D_CAMERA_RIG, PDM_CAMERA_RIG


@DATASETS.register_module()
class Bench2DriveE2EDataset(NuScenesE2EDataset):
    """Bench2Drive (Think2Drive expert) frames with planning labels.

    Paper: Bench2Drive (Jia et al., NeurIPS 2024 D&B). Reads the info pkl written by
    :func:`mmautomot.datasets.bench2drive.create_bench2drive_infos` — the same format as the nuScenes
    infos (``docs/contracts.md``), so the same pipeline applies, except that LiDAR files are CARLA
    left-handed clouds (``lidar_points.coord_system='carla_left_handed'``): load them with
    :class:`LoadCarlaPoints` instead of a nuScenes point loader. Labels are at 10 Hz data with 6
    future waypoints every 0.5 s, a 20-point 1 m path, the CARLA command mapped to our 6-way index
    and the route target point, all in the ego frame (x forward, y left).

    Args: see :class:`mmautomot.datasets.NuScenesE2EDataset` (``ann_file``, ``data_root``,
        ``pipeline``, ``test_mode``, ``filter_invalid_future``, ``metainfo``).
    """

    METAINFO = dict(classes=CLASSES, cam_names=tuple(B2D_CAMERA_RIG), dataset='bench2drive')


@DATASETS.register_module()
class PDMLiteE2EDataset(NuScenesE2EDataset):
    """PDM-Lite (CARLA garage expert, leaderboard 2.0) frames with planning labels.

    Same info format and pipeline as :class:`Bench2DriveE2EDataset` (``dataset='bench2drive'`` in the
    pkl's metainfo, built by the same converter); one front camera 1024x512, 4 Hz data by default.
    """

    METAINFO = dict(classes=CLASSES, cam_names=tuple(PDM_CAMERA_RIG), dataset='bench2drive')
