# Copyright (c) mmautomot contributors. All rights reserved.
"""DiTMoARefiner / MoABlock / TruncatedDiffusion: contract, equivalences, determinism, overfitting."""

import pytest
import torch

from mmautomot.models.refiners import DiTMoARefiner, MoABlock, TruncatedDiffusion
from mmautomot.registry import MODELS

SOURCES = dict(decision=8, route=20, waypoint=6)


def _cond(bsz=3, ch=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(bsz, n, ch, generator=g) for k, n in SOURCES.items()}


def _traj(bsz=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.cumsum(torch.rand(bsz, 6, 2, generator=g) * torch.tensor([3.0, 0.5]), 1)


def _refiner(**kw):
    cfg = dict(type='DiTMoARefiner', cond_sources=list(SOURCES), cond_channels=16, hidden_size=32, num_heads=2)
    cfg.update(kw)
    torch.manual_seed(0)
    return MODELS.build(cfg)


@pytest.mark.parametrize(
    'diffusion',
    [
        dict(),
        dict(prediction_type='epsilon'),
        dict(scheduler='flow'),
        dict(scheduler='flow', prediction_type='velocity', noise_source='gt'),
        dict(noise_source='gt', num_inference_steps=5),
    ],
)
def test_contract_and_determinism(diffusion):
    ref = _refiner(diffusion=diffusion)
    cond, prop = _cond(), _traj()
    losses = ref.loss(cond, prop, prop + 1.0, torch.ones(3, 6))
    assert set(losses) == {'loss_refine'} and losses['loss_refine'].dim() == 0
    assert torch.isfinite(losses['loss_refine'])
    losses['loss_refine'].backward()
    assert ref.in_proj.weight.grad is not None
    with torch.no_grad():
        out1 = ref.refine(cond, prop)
        out2 = ref.refine(cond, prop)
        out3 = ref.refine(cond, prop, generator=torch.Generator().manual_seed(123))
    assert out1.shape == (3, 6, 2) and out1.dtype == prop.dtype
    assert torch.equal(out1, out2)  # default generator seeded with `seed`
    if diffusion.get('prediction_type', 'sample') != 'sample':
        assert not torch.equal(out1, out3)  # the start noise matters for non-residual outputs
    else:  # untrained x0 predictor: residual 0, the proposal whatever the noise
        torch.testing.assert_close(out3, prop, atol=1e-5, rtol=0)


def test_zero_steps_and_untrained_identity():
    """0 steps return the proposal itself; an untrained 'sample' refiner (adaLN-Zero, zero output layer)
    returns the proposal (its x0 estimate is the proposal plus a zero residual)."""
    ref = _refiner()
    cond, prop = _cond(), _traj()
    with torch.no_grad():
        assert ref.refine(cond, prop, num_inference_steps=0) is prop
        torch.testing.assert_close(ref.refine(cond, prop), prop, atol=1e-5, rtol=0)
    zero = _refiner(diffusion=dict(num_inference_steps=0, scheduler='flow'))
    assert zero.refine(cond, prop) is prop
    flow = _refiner(diffusion=dict(scheduler='flow'))
    with torch.no_grad():
        torch.testing.assert_close(flow.refine(cond, prop), prop, atol=1e-5, rtol=0)


def test_truncated_schedule():
    d = TruncatedDiffusion(truncation_timestep=50, num_inference_steps=2)
    assert d.inference_timesteps() == [50, 25] and d.inference_timesteps(5) == [50, 40, 30, 20, 10]
    assert d.inference_timesteps(0) == []
    with pytest.raises(ValueError, match='multiple of num_inference_steps 3'):
        d.inference_timesteps(3)
    with pytest.raises(ValueError, match="prediction_type must be one of \\('sample', 'velocity'\\) for 'flow'"):
        TruncatedDiffusion(scheduler='flow', prediction_type='epsilon')
    with pytest.raises(ValueError, match='scheduler must be one of'):
        TruncatedDiffusion(scheduler='ddpm')
    with pytest.raises(ValueError, match=r'truncation_timestep must be in \[1, 1000\]'):
        TruncatedDiffusion(truncation_timestep=0)
    # Targets make the scheduler's x0 estimate equal the GT.
    gt, prop = torch.randn(4, 6, 2), torch.randn(4, 6, 2)
    t = torch.tensor([1, 10, 30, 50])
    for kind, pred in (('ddim', 'epsilon'), ('ddim', 'sample'), ('flow', 'velocity')):
        d = TruncatedDiffusion(scheduler=kind, prediction_type=pred)
        x_t = d.add_noise(prop, torch.randn_like(prop), t)
        target = d.target(x_t, gt, t)
        if kind == 'flow':
            x0 = x_t - d.sigma(t).view(-1, 1, 1) * target
        elif pred == 'epsilon':
            a = d.scheduler.alphas_cumprod[t].view(-1, 1, 1)
            x0 = (x_t - (1 - a).sqrt() * target) / a.sqrt()
        else:
            x0 = target
        torch.testing.assert_close(x0, gt, atol=1e-4, rtol=1e-4)
    # A perfect denoiser lands on the GT in two DDIM steps and in two Euler flow steps.
    for kind, pred in (('ddim', 'epsilon'), ('ddim', 'sample'), ('flow', 'sample'), ('flow', 'velocity')):
        d = TruncatedDiffusion(scheduler=kind, prediction_type=pred)
        out = d.sample(lambda x, tt, d=d: d.target(x, gt, tt), prop, torch.Generator().manual_seed(0))
        torch.testing.assert_close(out, gt, atol=1e-4, rtol=1e-4)


def test_moa_block_gate_and_errors():
    block = MoABlock(16, 2, ['a', 'b'])
    x, c = torch.randn(2, 6, 16), torch.randn(2, 16)
    cond = dict(a=torch.randn(2, 5, 16), b=torch.randn(2, 3, 16))
    torch.testing.assert_close(block(x, c, cond), x)  # adaLN-Zero: identity at init
    w = block.source_weights(x)
    assert w.shape == (2, 6, 2)
    torch.testing.assert_close(w, torch.full_like(w, 0.5))
    with pytest.raises(ValueError, match='not divisible'):
        MoABlock(15, 2, ['a'])
    ref = _refiner()
    cond, prop = _cond(), _traj()
    with pytest.raises(KeyError, match=r"lack sources \['waypoint'\]"):
        ref.refine({k: v for k, v in cond.items() if k != 'waypoint'}, prop)
    with pytest.raises(ValueError, match=r'proposal must be \(B, 6, 2\)'):
        ref.refine(cond, prop[:, :4])
    with pytest.raises(ValueError, match=r"cond_tokens\['route'\] must be"):
        ref.refine(dict(cond, route=torch.randn(3, 20, 8)), prop)
    with pytest.raises(ValueError, match='cond_channels is required'):
        DiTMoARefiner(cond_sources=['a'])


@pytest.mark.parametrize('diffusion', [dict(), dict(scheduler='flow')])
def test_overfits_one_batch_and_moves_toward_gt(diffusion):
    torch.manual_seed(0)
    ref = _refiner(diffusion=diffusion)
    cond = _cond(bsz=4, seed=1)
    gt = _traj(bsz=4, seed=2)
    g = torch.Generator().manual_seed(3)
    prop = gt + torch.randn(4, 6, 2, generator=g) * 1.5
    mask = torch.ones(4, 6)
    mask[0, -2:] = 0  # invalid GT steps are ignored
    gt_bad = gt.clone()
    gt_bad[0, -2:] = 1e3
    opt = torch.optim.AdamW(ref.parameters(), lr=3e-3, weight_decay=0.0)
    hist = []
    for _ in range(150):
        loss = ref.loss(cond, prop, gt_bad, mask)['loss_refine']
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist.append(loss.item())
    first, last = sum(hist[:10]) / 10, sum(hist[-10:]) / 10
    assert last < 0.25 * first, (first, last)
    with torch.no_grad():
        refined = ref.refine(cond, prop)
    valid = mask.bool()
    err_prop = (prop - gt).norm(dim=-1)[valid].mean()
    err_ref = (refined - gt).norm(dim=-1)[valid].mean()
    assert err_ref < 0.5 * err_prop, (err_prop.item(), err_ref.item())
