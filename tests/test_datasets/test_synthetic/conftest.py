# Copyright (c) mmautomot contributors. All rights reserved.
import pytest

from mmautomot.datasets.synthetic import SyntheticNuScenesConfig, make_synthetic_nuscenes

TINY = dict(num_scenes=2, num_keyframes=6, image_size=(192, 108), azimuth_step=8.0)


@pytest.fixture(scope='module')
def synth_root(tmp_path_factory):
    """A tiny synthetic v1.0-mini dataset (2 scenes x 6 keyframes), generated once per module."""
    root = tmp_path_factory.mktemp('synth_nus')
    make_synthetic_nuscenes(str(root), SyntheticNuScenesConfig(**TINY), verbose=False)
    return root
