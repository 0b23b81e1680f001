# Copyright (c) mmautomot contributors. All rights reserved.
import pytest

from mmautomot.datasets.synthetic import SyntheticNuScenesConfig, make_synthetic_nuscenes

# scene 0 (mini_train) turns left at its first junction, scene 1 (mini_val) drives straight
TINY = dict(num_scenes=2, num_keyframes=8, image_size=(96, 54), azimuth_step=12.0)


@pytest.fixture(scope='module')
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synth_nus_conv')
    make_synthetic_nuscenes(str(root), SyntheticNuScenesConfig(**TINY), verbose=False)
    return root


@pytest.fixture(scope='module')
def infos(synth_root, tmp_path_factory):
    """``{'train': ..., 'val': ...}`` converted pkl contents of the tiny dataset."""
    from mmengine.fileio import load

    from mmautomot.datasets.converters import create_nuscenes_infos

    out = tmp_path_factory.mktemp('infos')
    paths = create_nuscenes_infos(str(synth_root), str(out), version='v1.0-mini', max_sweeps=3)
    return {k: load(v) for k, v in paths.items()}
