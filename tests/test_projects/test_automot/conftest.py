# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch
from automot_test_utils import tiny_automot_cfg


@pytest.fixture(scope='module')
def tiny_model():
    import projects.automot.automot  # noqa: F401
    from mmautomot.registry import MODELS

    torch.manual_seed(0)
    return MODELS.build(tiny_automot_cfg())
