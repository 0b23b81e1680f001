# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch
from drivemoe_test_utils import MOE_CFG, PI0_CFG, build_tiny, demo_batch

from mmautomot.models.moe import MoEFFN


class _VisionCounter:
    """Counts calls of the VLM's vision encoder and the images (grid rows) each call encodes."""

    def __init__(self, model):
        self.calls = []
        model.vlm.core.model.visual.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        grid = kwargs['grid_thw'] if 'grid_thw' in kwargs else args[1]
        self.calls.append(int(grid.shape[0]))  # one row per image


def test_drive_pi0_loss_and_predict():
    model = build_tiny(PI0_CFG)
    inputs, samples = demo_batch()
    model.train()
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_flow'} and torch.isfinite(losses['loss_flow'])
    losses['loss_flow'].backward()
    assert model.head.action_out.weight.grad is not None
    assert model.mot.ae_layers[0].mlp.up_proj.weight.grad.abs().sum() > 0
    model.eval()
    counter = _VisionCounter(model)
    out = model.predict(inputs, samples)
    assert out[0].pred_ego_fut_trajs.shape == (6, 2)
    assert counter.calls == [2 * 2]  # one call: 2 samples x (previous + current front)
    counts = model.count_params()
    assert counts['total_params'] == sum(p.numel() for p in model.parameters())


def test_flow_sampler_deterministic_and_cache_equals_recompute():
    model = build_tiny(MOE_CFG)
    inputs, samples = demo_batch()
    noise = torch.randn(2, 6, 2, generator=torch.Generator().manual_seed(3))
    a = model.sample_actions(inputs, samples, noise=noise)
    b = model.sample_actions(inputs, samples, noise=noise)
    assert torch.equal(a['waypoints'], b['waypoints']) and a['flow_steps'] == 10
    ref = model.sample_actions(inputs, samples, noise=noise, recompute_prefix=True)
    assert torch.allclose(a['actions'], ref['actions'], atol=1e-5)
    # the noise matters (so the equality above is not trivial)
    c = model.sample_actions(inputs, samples, noise=noise + 1.0)
    assert not torch.allclose(a['actions'], c['actions'], atol=1e-3)


def test_cache_stays_read_only_over_the_flow_steps(monkeypatch):
    model = build_tiny(MOE_CFG)
    inputs, samples = demo_batch()
    seen = {}
    orig = model.mot.ue_refresh

    def refresh(batch, *a, **k):
        cache = orig(batch, *a, **k)
        seen['cache'] = cache
        seen['keys'] = [t.clone() for t in cache.keys]
        return cache

    monkeypatch.setattr(model.mot, 'ue_refresh', refresh)
    model.sample_actions(inputs, samples, noise=torch.zeros(2, 6, 2))
    assert all(torch.equal(k, k0) for k, k0 in zip(seen['cache'].keys, seen['keys']))


def test_only_the_chosen_view_is_encoded_at_inference():
    model = build_tiny(MOE_CFG)
    inputs, samples = demo_batch(bsz=3)
    counter = _VisionCounter(model)
    out = model.sample_actions(inputs, samples, noise=torch.zeros(3, 6, 2))
    idx = out['extras']['camera_index']
    assert counter.calls == [3 * 2, 3]  # front history, then exactly one routed view per sample
    assert torch.equal(idx, out['extras']['camera_logits'].argmax(-1))
    # the chosen view's pixels matter, the others' do not
    other = inputs['imgs'].clone()
    for b in range(3):
        for v in range(5):
            if v != int(idx[b]):
                other[b, v] = 255 - other[b, v]
    same = model.sample_actions(dict(inputs, imgs=other), samples, noise=torch.zeros(3, 6, 2))
    assert torch.equal(same['waypoints'], out['waypoints'])
    chosen = inputs['imgs'].clone()
    chosen[0, int(idx[0])] = 255 - chosen[0, int(idx[0])]
    diff = model.sample_actions(dict(inputs, imgs=chosen), samples, noise=torch.zeros(3, 6, 2))
    assert not torch.allclose(diff['waypoints'][0], out['waypoints'][0])
    # training: every candidate is encoded, the router gets a gradient through the straight-through pick
    model.train()
    counter.calls.clear()
    losses = model.loss(inputs, samples)
    assert counter.calls == [3 * 2, 3 * 5]
    sum(losses.values()).backward()
    assert model.camera_router.mlp[-1].weight.grad.abs().sum() > 0


def test_action_moe_layers_and_routing():
    model = build_tiny(MOE_CFG)
    moe = [i for i, layer in enumerate(model.mot.ae_layers) if isinstance(layer.mlp, MoEFFN)]
    assert moe == [1, 2]
    first, second = (model.mot.ae_layers[i].mlp for i in moe)
    assert first.router is not None and second.router is None and second.routing is first.routing
    inputs, samples = demo_batch()
    model.sample_actions(inputs, samples, noise=torch.zeros(2, 6, 2))
    idx = first.routing.indices  # (B, L_a, 3): one routing per sample (trajectory level)
    assert idx.shape[-1] == 3 and (idx == idx[:, :1]).all()
    assert model.action_router_logits().shape == (2, 7)


def test_token_level_action_routing_is_a_config_choice():
    def token_level(model_cfg):
        model_cfg['mot']['ae']['mlp']['router'] = dict(type='TokenRouter')
        model_cfg['share_action_routing'] = False

    model = build_tiny(MOE_CFG, mutate=token_level)
    firsts = [layer.mlp for layer in model.mot.ae_layers if isinstance(layer.mlp, MoEFFN)]
    assert all(f.router is not None for f in firsts) and firsts[0].routing is not firsts[1].routing
    inputs, samples = demo_batch()
    model.sample_actions(inputs, samples, noise=torch.zeros(2, 6, 2))
    idx = firsts[0].routing.indices
    assert not (idx == idx[:, :1]).all()  # tokens of one sample take different experts


def test_stage2_router_supervision():
    model = build_tiny(MOE_CFG, router_supervision=True)
    model.train()
    inputs, samples = demo_batch()
    with pytest.raises(KeyError, match='camera_label'):
        model.loss(inputs, samples)
    for ds, cam, sc in zip(samples, (2, 0), (6, 1)):
        ds.set_metainfo(dict(camera_label=cam, scenario_label=sc))
    losses = model.loss(inputs, samples)
    assert {'loss_flow', 'loss_camera_router', 'loss_action_router'} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())


def test_view_teacher_forcing_encodes_the_labelled_view():
    model = build_tiny(MOE_CFG, router_supervision=True, view_teacher_forcing=True).train()
    inputs, samples = demo_batch()
    for ds, cam, sc in zip(samples, (4, 1), (0, 6)):
        ds.set_metainfo(dict(camera_label=cam, scenario_label=sc))
    counter = _VisionCounter(model)
    batch = model.ue_batch(inputs, samples)
    assert counter.calls == [2 * 2, 2]  # front history, then only the labelled view of each sample
    assert batch['extras']['camera_index'].tolist() == [4, 1]
    losses = model.loss(inputs, samples)
    assert 'loss_camera_router' in losses


def _paligemma_ue(model):
    """Swap the VLM for the paper's family (tiny PaliGemma: SigLIP + Gemma) by one config line."""
    model['mot']['ue'] = dict(type='PaliGemmaUnderstandingExpert', preset='tiny', num_frames=2, freeze=False)


def test_drivemoe_with_paligemma_vlm():
    """DriveMoE on PaliGemma: trains, the flow steps over the read-only cache equal recomputing the prefix, and
    at inference SigLIP encodes the front history and exactly one routed view per sample."""
    model = build_tiny(MOE_CFG, mutate=_paligemma_ue)
    assert type(model.vlm).__name__ == 'PaliGemmaUnderstandingExpert'
    calls = []
    model.vlm.core.model.vision_tower.register_forward_pre_hook(lambda m, args: calls.append(int(args[0].shape[0])))
    inputs, samples = demo_batch(bsz=2)
    noise = torch.randn(2, 6, 2, generator=torch.Generator().manual_seed(5))
    out = model.sample_actions(inputs, samples, noise=noise)
    assert calls == [2 * 2, 2]
    ref = model.sample_actions(inputs, samples, noise=noise, recompute_prefix=True)
    assert torch.allclose(out['actions'], ref['actions'], atol=1e-5)
    model.train()
    losses = model.loss(inputs, samples)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.mot.ae_layers[-1].mlp is not None and model.head.action_out.weight.grad.abs().sum() > 0
