# Copyright (c) mmautomot contributors. All rights reserved.
"""Helpers of the AutoMoT tests (a uniquely named module: several test folders have a conftest.py)."""


def tiny_automot_cfg(small_inputs=True):
    """The tiny AutoMoT model dict (same as projects/automot/configs/automot_tiny_*.py's)."""
    from mmengine.config import Config

    cfg = Config.fromfile('projects/automot/configs/automot_tiny_1xb2-200i_nuscenes-e2e.py')
    model = cfg.model.to_dict()
    model.pop('data_preprocessor', None)
    if small_inputs:  # test speed: 32x64 frames, 32x32 LiDAR BEV
        model['mot']['ue']['image_size'] = (32, 64)
        model['bev_encoder']['bev'] = dict(x_range=(-8.0, 8.0), y_range=(-8.0, 8.0), resolution=0.5)
    return model
