# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch

from mmautomot.registry import MODELS


def _head(**kw):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='FlowMatchingActionHead',
            hidden_size=16,
            action_dim=2,
            horizon=4,
            proprio_dim=3,
            time_embed_dim=8,
            **kw,
        )
    )


def test_pi0_conventions():
    head = _head()
    x0, x1 = torch.randn(5, 4, 2), torch.randn(5, 4, 2)
    t = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    psi = head.psi_t(x0, x1, t)
    for i, ti in enumerate(t.tolist()):
        assert torch.allclose(psi[i], (1 - (1 - 0.001) * ti) * x0[i] + ti * x1[i])
    assert torch.allclose(head.target_velocity(x0, x1), x1 - 0.999 * x0)
    # d psi / dt equals the target velocity
    assert torch.allclose((head.psi_t(x0, x1, t + 1e-2) - psi) / 1e-2, head.target_velocity(x0, x1), atol=1e-4)
    # training times: t = 0.999 (1 - z), z ~ Beta(1.5, 1): mean of z is 0.6 -> mean t = 0.3996
    g = torch.Generator().manual_seed(0)
    ts = head.sample_time(20000, generator=g)
    assert 0 <= ts.min() and ts.max() <= 0.999
    assert ts.mean().item() == pytest.approx(0.999 * 0.4, abs=0.01)
    assert torch.equal(ts, head.sample_time(20000, generator=torch.Generator().manual_seed(0)))
    # loss: MSE to the target over valid steps
    v = torch.randn(5, 4, 2)
    mask = torch.ones(5, 4)
    mask[:, 2:] = 0
    ref = ((v - head.target_velocity(x0, x1))[:, :2] ** 2).mean()
    assert head.loss(v, x0, x1, mask)['loss_flow'].item() == pytest.approx(ref.item(), rel=1e-6)


def test_tokens_and_euler_sampler():
    head = _head(num_steps=10, action_scale=(10.0, 2.0))
    x = torch.randn(2, 4, 2)
    tok = head.embed_actions(x, torch.tensor([0.1, 0.9]))
    assert tok.shape == (2, 4, 16)
    assert head.embed_proprio(torch.randn(2, 5, 3)).shape == (2, 5, 16)
    assert head.velocity(tok).shape == (2, 4, 2)
    assert torch.allclose(head.from_actions(head.to_actions(x)), x)
    assert torch.allclose(head.to_actions(torch.tensor([[[10.0, 2.0]]])), torch.ones(1, 1, 2))
    per_step = _head(action_scale=[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]])
    assert torch.allclose(per_step.to_actions(torch.ones(1, 4, 2))[0, :, 0], torch.tensor([1, 1 / 2, 1 / 3, 1 / 4]))
    with pytest.raises(ValueError, match='action_scale must be'):
        _head(action_scale=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r'actions must be \(B, 4, 2\)'):
        head.embed_actions(torch.randn(2, 3, 2), torch.zeros(2))
    # a constant velocity field integrates exactly; times seen are 0, 0.1, ..., 0.9
    seen = []

    def vf(x_t, t):
        seen.append(t[0].item())
        return torch.ones_like(x_t)

    out = head.sample(vf, torch.zeros(2, 4, 2))
    assert torch.allclose(out, torch.ones(2, 4, 2), atol=1e-6)
    assert seen == pytest.approx([i / 10 for i in range(10)])
    # the exact velocity of a linear flow maps noise to the data (sigma_min -> 0)
    x1 = torch.randn(2, 4, 2)
    noise = torch.randn(2, 4, 2)
    exact = head.sample(lambda x_t, t: x1 - noise, noise)
    assert torch.allclose(exact, x1, atol=1e-5)
