# Copyright (c) mmautomot contributors. All rights reserved.
"""Helpers of the DriveMoE tests (a uniquely named module: several test folders have a conftest.py)."""

import torch

PI0_CFG = 'projects/drivemoe/configs/drive-pi0_tiny_1xb4-300i_nuscenes-synthetic.py'
MOE_CFG = 'projects/drivemoe/configs/drivemoe_tiny_1xb4-300i_nuscenes-synthetic.py'


def build_tiny(config=MOE_CFG, seed=0, mutate=None, **overrides):
    """The tiny model of a project config, 32x64 frames (test speed), built in eval mode."""
    from mmengine.config import Config

    import projects.drivemoe.drivemoe  # noqa: F401
    from mmautomot.registry import MODELS

    cfg = Config.fromfile(config)
    model = cfg.model.to_dict()
    model['mot']['ue']['image_size'] = (32, 64)
    model.update(overrides)
    if mutate is not None:
        mutate(model)
    torch.manual_seed(seed)
    return MODELS.build(model).eval()


def demo_batch(bsz=2, seed=0, num_views=5):
    """Inputs (0-255 images, 5 candidate views) and data samples with a 6-step GT future."""
    from mmautomot.testing import demo_driving_batch

    inputs, samples = demo_driving_batch(bsz, seed, hist_shape=(2, 32, 64), cam_shape=(num_views, 32, 64), num_points=4)
    g = torch.Generator().manual_seed(seed + 1)
    inputs['imgs'] = torch.randint(0, 256, inputs['imgs'].shape, generator=g).float()
    return inputs, samples
