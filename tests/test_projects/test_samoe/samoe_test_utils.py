# Copyright (c) mmautomot contributors. All rights reserved.
"""Helpers of the SAMoE tests (a uniquely named module: several test folders have a conftest.py)."""

import pytest


def require_flow_head():
    """Skip when the flow-matching action head (shared with DriveMoE) is not in this checkout."""
    import mmautomot.models  # noqa: F401
    from mmautomot.registry import MODELS

    if 'FlowMatchingActionHead' not in MODELS.module_dict:
        pytest.skip(
            'FlowMatchingActionHead (mmautomot/models/heads/flow_matching_head.py) is not registered',
            allow_module_level=True,
        )


def tiny_samoe_cfg(preprocessor=False, **moe):
    """The tiny SAMoE model dict of projects/samoe/configs/samoe_tiny_1xb4-1200i_nuscenes-synthetic.py, small inputs."""
    from mmengine.config import Config

    cfg = Config.fromfile('projects/samoe/configs/samoe_tiny_1xb4-1200i_nuscenes-synthetic.py')
    model = cfg.model.to_dict()
    if not preprocessor:
        model.pop('data_preprocessor', None)
    model['bev_encoder']['bev'] = dict(x_range=(-8.0, 8.0), y_range=(-8.0, 8.0), resolution=0.5)
    model['scene_encoder']['impl'] = 'pytorch'
    model['moe'].update(moe)
    return model


def build_tiny(preprocessor=False, **moe):
    import torch

    import projects.samoe.samoe  # noqa: F401
    from mmautomot.registry import MODELS

    torch.manual_seed(0)
    return MODELS.build(tiny_samoe_cfg(preprocessor, **moe))
