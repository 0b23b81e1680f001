# Copyright (c) mmautomot contributors. All rights reserved.
"""ProcessVLMInputs: the pipeline's UE inputs equal the expert's own prepare_inputs (the old in-forward path)."""

import numpy as np
import pytest
import torch

from mmautomot.datasets.transforms import PackDrivingInputs, ProcessVLMInputs
from mmautomot.models.data_preprocessors import DrivingDataPreprocessor
from mmautomot.registry import MODELS
from mmautomot.structures import driving_prompt

UES = {
    'qwen3vl': dict(type='Qwen3VLUnderstandingExpert', preset='tiny', image_size=(32, 64), num_frames=2),
    'paligemma': dict(type='PaliGemmaUnderstandingExpert', preset='tiny', num_frames=2, system_prompt='Drive.'),
    'internvl': dict(type='InternVLUnderstandingExpert', preset='tiny', num_frames=2, system_prompt='Drive.'),
}


def _results(rng, prompt, command=1, speed=3.0, hw=(36, 64)):
    return dict(
        token='t',
        img_hist=rng.integers(0, 256, (2, *hw, 3), dtype=np.uint8),
        command=command,
        ego_status=np.array([speed, 0, 0, 0], np.float32),
        prompt=prompt,
    )


@pytest.mark.parametrize('family', list(UES))
def test_pipeline_inputs_equal_prepare_inputs(family):
    """Two samples of different prompt lengths (one without a prompt: the command/speed fallback) through the
    transform, PackDrivingInputs, pseudo-collate-like batching, the data preprocessor and the model's
    collate_inputs give exactly the tensors prepare_inputs gives for the batch (padding included)."""
    rng = np.random.default_rng(0)
    ue = MODELS.build(UES[family])  # the model's expert (random weights)
    transform = ProcessVLMInputs(ue=UES[family])  # builds its own weightless processor from the config
    samples = [_results(rng, None, command=0, speed=7.25), _results(rng, 'A much longer prompt ' * 4)]
    packed = [PackDrivingInputs()(transform(dict(s))) for s in samples]
    batch = DrivingDataPreprocessor()(dict(inputs=dict(vlm_inputs=[p['inputs']['vlm_inputs'] for p in packed])))
    got = ue.collate_inputs(batch['inputs']['vlm_inputs'])
    frames = torch.from_numpy(np.stack([s['img_hist'] for s in samples])).permute(0, 1, 4, 2, 3)
    ref = ue.prepare_inputs(frames, [driving_prompt(0, 7.25), samples[1]['prompt']])
    assert sorted(got) == sorted(ref)
    lengths = packed[0]['inputs']['vlm_inputs']['input_ids'].shape[1], ref['input_ids'].shape[1]
    assert lengths[0] < lengths[1]  # the first sample really was padded
    for key in ref:
        assert got[key].dtype == ref[key].dtype and torch.equal(got[key], ref[key]), key
    # mmengine's pseudo_collate layout (dict of per-sample lists) batches the same
    collated = {k: [p['inputs']['vlm_inputs'][k] for p in packed] for k in packed[0]['inputs']['vlm_inputs']}
    assert all(torch.equal(ue.collate_inputs(collated)[k], ref[k]) for k in ref)


def test_other_ue_config_is_refused():
    """Inputs processed for another UE configuration (e.g. a child config changed the model's UE but not the
    pipeline) are refused, naming both processors."""
    rng = np.random.default_rng(1)
    other = dict(UES['qwen3vl'], image_size=(64, 128))
    out = ProcessVLMInputs(ue=other)(_results(rng, 'p'))['vlm_inputs']
    ue = MODELS.build(UES['qwen3vl'])
    with pytest.raises(ValueError, match=r'sample 0 was processed by another UE configuration .*ProcessVLMInputs'):
        ue.collate_inputs([out])


def test_missing_keys_are_named():
    transform = ProcessVLMInputs(ue=UES['qwen3vl'])
    with pytest.raises(KeyError, match=r"sample 'x'.*needs 'img_hist'.*after LoadFrontCamHistory"):
        transform(dict(token='x', prompt='p'))
    with pytest.raises(KeyError, match=r"needs 'prompt' or 'command' and 'ego_status'"):
        transform(dict(token='x', img_hist=np.zeros((2, 8, 8, 3), np.uint8)))
    with pytest.raises(ValueError, match='ProcessVLMInputs: give `ue`'):
        ProcessVLMInputs()


def test_pickled_transform_rebuilds_its_processor():
    """Dataloader workers get the transform pickled: the processor is rebuilt there, not unpickled."""
    import pickle

    rng = np.random.default_rng(2)
    transform = ProcessVLMInputs(ue=UES['qwen3vl'])
    first = transform(_results(rng, 'p'))['vlm_inputs']
    state = pickle.dumps(transform)
    assert b'Qwen3VLForConditionalGeneration' not in state
    again = pickle.loads(state)(_results(np.random.default_rng(2), 'p'))['vlm_inputs']
    assert first['processor'] == again['processor']
    assert all(torch.equal(first[k], again[k]) for k in first if k != 'processor')


@pytest.mark.parametrize('family', ['qwen3vl', 'paligemma'])
def test_vla_prefix_inputs_hold_the_prefix_and_the_routed_views(family):
    """ProcessVLAPrefixInputs: Drive-pi0's prefix = history + extra views (the expert's prepare_inputs of those
    frames); DriveMoE's = history + one routed slot, the candidates' pixels (process_images) apart."""
    from mmautomot.datasets.transforms import ProcessVLAPrefixInputs

    rng = np.random.default_rng(1)
    ue = MODELS.build(UES[family])
    res = dict(_results(rng, 'Go.'), imgs=rng.integers(0, 256, (3, 36, 64, 3), dtype=np.uint8))
    hist = torch.from_numpy(res['img_hist']).permute(0, 3, 1, 2)
    imgs = torch.from_numpy(res['imgs']).permute(0, 3, 1, 2)
    pi0 = ProcessVLAPrefixInputs(ue=UES[family], extra_views=[2, 0])(dict(res))['vlm_inputs']
    ref = ue.prepare_inputs(torch.cat([hist, imgs[[2, 0]]])[None], ['Go.'], device='cpu')
    for key, value in ref.items():
        assert torch.equal(pi0[key], value), key
    moe = ProcessVLAPrefixInputs(ue=UES[family], routed_views=[1, 2])(dict(res))['vlm_inputs']
    ref = ue.prepare_inputs(torch.cat([hist, hist[-1:]])[None], ['Go.'], device='cpu')
    assert torch.equal(moe['input_ids'], ref['input_ids'])
    views = ue.process_images(imgs[[1, 2]])
    assert sorted(k for k in moe if k.startswith('view_')) == sorted(f'view_{k}' for k in views)
    for key, value in views.items():
        assert torch.equal(moe[f'view_{key}'], value), key
    with torch.no_grad():  # the split encoder path is encode_images
        a, b = ue.encode_pixels(**views), ue.encode_images(imgs[[1, 2]])
    assert torch.equal(a['embeds'], b['embeds'])
    with pytest.raises(KeyError, match=r"sample 't': ProcessVLAPrefixInputs needs 'imgs'"):
        ProcessVLAPrefixInputs(ue=UES[family], extra_views=[0])({k: v for k, v in res.items() if k != 'imgs'})
    with pytest.raises(ValueError, match='extra_views .* or routed_views'):
        ProcessVLAPrefixInputs(ue=UES[family], extra_views=[0], routed_views=[1])
