# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch

from mmautomot.models.mot import MoTTransformer
from mmautomot.models.vlm import qwen3vl_preset


def tiny_ue_cfg(**kw):
    return dict(
        type='Qwen3VLUnderstandingExpert', config=qwen3vl_preset('tiny'), image_size=(32, 64), num_frames=2, **kw
    )


@pytest.fixture(scope='module')
def tiny_mot():
    torch.manual_seed(0)
    model = MoTTransformer(ue=tiny_ue_cfg(), ae=dict(hidden_size=48, intermediate_size=96), cache_capacity=256)
    return model.eval()


@pytest.fixture(scope='module')
def ue_batch(tiny_mot):
    g = torch.Generator().manual_seed(1)
    imgs = torch.randint(0, 256, (2, 2, 3, 32, 64), dtype=torch.uint8, generator=g)
    # different prompt lengths -> right padding in sample 0
    return tiny_mot.ue.prepare_inputs(imgs, ['go', 'turn left at the next junction'])
