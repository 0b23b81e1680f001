# Copyright (c) mmautomot contributors. All rights reserved.
from .camera_bev_encoder import CameraQueryBEVEncoder, sine_position_2d
from .lidar_histogram import bev_cell_of, bev_grid_shape, lidar_to_bev_histogram
from .pillar_bev_encoder import PointPillarsBEVEncoder
from .transfuser_bev_encoder import TransFuserBEVEncoder
from .transfuser_fusion import CameraBEVFusionBlock

__all__ = [
    'TransFuserBEVEncoder',
    'CameraBEVFusionBlock',
    'lidar_to_bev_histogram',
    'bev_grid_shape',
    'bev_cell_of',
    'PointPillarsBEVEncoder',
    'CameraQueryBEVEncoder',
    'sine_position_2d',
]
from .deformable_attention import TorchMSDeformAttn, ms_deform_attn_torch  # noqa: E402
from .deformable_scene_encoder import DeformableSceneEncoder  # noqa: E402

__all__ += ['DeformableSceneEncoder', 'TorchMSDeformAttn', 'ms_deform_attn_torch']
