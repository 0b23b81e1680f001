# Copyright (c) mmautomot contributors. All rights reserved.
"""A pi0-style flow-matching action head: noisy-action / proprio tokens in, velocity out, Euler sampler."""

import math
from typing import Callable, Dict, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmautomot.registry import MODELS

VelocityFn = Callable[[Tensor, Tensor], Tensor]


def sincos_time_embedding(t: Tensor, dim: int, min_period: float = 4e-3, max_period: float = 4.0) -> Tensor:
    """Sine-cosine features of flow times ``t`` (B,) in [0, 1] -> (B, dim), periods geometric in
    ``[min_period, max_period]`` (pi0's convention)."""
    if dim % 2:
        raise ValueError(f'sincos_time_embedding: dim must be even, got {dim}')
    frac = torch.linspace(0.0, 1.0, dim // 2, device=t.device, dtype=torch.float32)
    period = min_period * (max_period / min_period) ** frac
    ang = t.float()[:, None] * (2 * math.pi / period)[None]
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)


@MODELS.register_module()
class FlowMatchingActionHead(BaseModule):
    """Flow-matching action head and Euler sampler (pi0 conventions).

    Paper: pi0 (Black et al., "pi0: A Vision-Language-Action Flow Model for General Robot Control") as used by
    DriveMoE's Drive-pi0. ``x0`` is Gaussian noise, ``x1`` the (normalised) action chunk, the flow time
    ``t`` goes from 0 (noise) to 1 (data):

    * training time ``t = t_max * (1 - z)``, ``z ~ Beta(a, b)`` (``t_max = 0.999``, ``(a, b) = (1.5, 1)``),
      which favours small ``t`` (noisy inputs);
    * noisy actions ``psi_t = (1 - (1 - sigma_min) t) x0 + t x1``; target velocity
      ``x1 - (1 - sigma_min) x0``; loss: (masked) MSE between predicted and target velocity;
    * sampling: ``x <- x + v(x, t) / N`` for ``t = 0, 1/N, ..., (N-1)/N`` starting from ``x = x0``.

    The head owns only the token embeddings and the read-out; the transformer that maps action tokens to
    velocity tokens (e.g. an action expert attending a read-only VLM prefix cache) is the caller's
    ``velocity_fn``, so the same head serves any backbone.

    Tensor contract:
        * ``embed_actions(x_t (B, H, A), t (B,)) -> (B, H, C)``: ``W3 silu(W2 [W1 x_t ; phi(t)])`` (pi0's
          action/time MLP), plus a learned per-step position embedding.
        * ``embed_proprio(proprio (B, N_p, P)) -> (B, N_p, C)``.
        * ``velocity(tokens (B, H, C)) -> (B, H, A)``.
        * ``to_actions(points (B, H, A)) -> (B, H, A)`` normalised (``/ action_scale``) and ``from_actions``
          back to metres (or whatever unit the points have).

    Args:
        hidden_size (int): width C of the backbone's action tokens.
        action_dim (int): A, e.g. 2 for (x, y) waypoints. Defaults to 2.
        horizon (int): H, action steps per chunk. Defaults to 10.
        proprio_dim (int | None): P, features per proprio (ego state) token; None = no proprio tokens.
        time_embed_dim (int): sine-cosine time features. Defaults to 256 (the released config).
        num_steps (int): Euler steps at inference. Defaults to 10.
        sigma_min (float): Defaults to 0.001.
        time_beta (Sequence[float]): (a, b) of the Beta distribution of ``z``. Defaults to (1.5, 1.0).
        time_max (float): Defaults to 0.999.
        action_scale (float | Sequence): units per normalised action unit: one number, one per action dim
            (A,), or one per step and dim (H, A) (e.g. dataset statistics that grow with the horizon).
            Defaults to 1.0.
        loss_weight (float): weight of ``loss_flow``. Defaults to 1.0.
        init_cfg (dict | None): mmengine init config.
    """

    def __init__(
        self,
        hidden_size: int,
        action_dim: int = 2,
        horizon: int = 10,
        proprio_dim: Optional[int] = None,
        time_embed_dim: int = 256,
        num_steps: int = 10,
        sigma_min: float = 0.001,
        time_beta: Sequence[float] = (1.5, 1.0),
        time_max: float = 0.999,
        action_scale=1.0,
        loss_weight: float = 1.0,
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(init_cfg=init_cfg)
        if num_steps < 1:
            raise ValueError(f'FlowMatchingActionHead: num_steps must be >= 1, got {num_steps}')
        if not 0.0 <= sigma_min < 1.0:
            raise ValueError(f'FlowMatchingActionHead: sigma_min must be in [0, 1), got {sigma_min}')
        self.hidden_size, self.action_dim, self.horizon = hidden_size, action_dim, horizon
        self.proprio_dim, self.time_embed_dim = proprio_dim, time_embed_dim
        self.num_steps, self.sigma_min, self.time_max = num_steps, float(sigma_min), float(time_max)
        self.time_beta = tuple(float(v) for v in time_beta)
        self.loss_weight = float(loss_weight)
        scale = torch.as_tensor(action_scale, dtype=torch.float32, device='cpu')  # checked here, also on meta builds
        if scale.numel() in (1, action_dim):
            scale = scale.reshape(-1).expand(action_dim)
        elif tuple(scale.shape) != (horizon, action_dim):
            raise ValueError(
                f'FlowMatchingActionHead: action_scale must be a number, {action_dim} numbers or '
                f'({horizon}, {action_dim}) numbers, got shape {tuple(scale.shape)}'
            )
        if (scale <= 0).any():
            raise ValueError('FlowMatchingActionHead: action_scale must be > 0')
        self.register_buffer('action_scale', scale.clone(), persistent=False)
        self.action_in = nn.Linear(action_dim, hidden_size)
        self.action_time = nn.Linear(hidden_size + time_embed_dim, hidden_size)
        self.action_mix = nn.Linear(hidden_size, hidden_size)
        self.step_pos = nn.Parameter(torch.zeros(horizon, hidden_size))
        self.action_out = nn.Linear(hidden_size, action_dim)
        self.proprio_in = nn.Linear(proprio_dim, hidden_size) if proprio_dim else None

    # ------------------------------------------------------------------ normalisation
    def to_actions(self, points: Tensor) -> Tensor:
        """Points (B, H, A) in their unit -> normalised actions."""
        return points / self.action_scale.to(points)

    def from_actions(self, actions: Tensor) -> Tensor:
        """Normalised actions (B, H, A) -> points in their unit."""
        return actions * self.action_scale.to(actions)

    # ------------------------------------------------------------------ flow
    def sample_time(self, batch_size: int, device=None, generator: Optional[torch.Generator] = None) -> Tensor:
        """Training flow times (B,): ``t_max * (1 - z)``, ``z ~ Beta(a, b)``."""
        a, b = self.time_beta
        if generator is None:
            z = torch.distributions.Beta(torch.tensor(a), torch.tensor(b)).sample((batch_size,))
        else:  # Beta(a, b) = Ga / (Ga + Gb), with seeded gammas
            ga = torch._standard_gamma(torch.full((batch_size,), a), generator=generator)
            gb = torch._standard_gamma(torch.full((batch_size,), b), generator=generator)
            z = ga / (ga + gb)
        return (self.time_max * (1.0 - z)).to(device)

    def psi_t(self, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        """Noisy actions ``(1 - (1 - sigma_min) t) x0 + t x1`` (t: (B,))."""
        t = t.reshape(-1, *([1] * (x0.dim() - 1))).to(x0)
        return (1.0 - (1.0 - self.sigma_min) * t) * x0 + t * x1

    def target_velocity(self, x0: Tensor, x1: Tensor) -> Tensor:
        """``x1 - (1 - sigma_min) x0``."""
        return x1 - (1.0 - self.sigma_min) * x0

    # ------------------------------------------------------------------ tokens
    def embed_actions(self, x_t: Tensor, t: Tensor) -> Tensor:
        """Noisy action tokens (B, H, C) from ``x_t`` (B, H, A) and ``t`` (B,)."""
        if x_t.shape[1:] != (self.horizon, self.action_dim):
            raise ValueError(
                f'FlowMatchingActionHead: actions must be (B, {self.horizon}, {self.action_dim}), '
                f'got {tuple(x_t.shape)}'
            )
        a = self.action_in(x_t.to(self.action_in.weight.dtype))
        phi = sincos_time_embedding(t, self.time_embed_dim).to(a)[:, None].expand(-1, a.shape[1], -1)
        h = self.action_mix(F.silu(self.action_time(torch.cat([a, phi], dim=-1))))
        return h + self.step_pos

    def embed_proprio(self, proprio: Tensor) -> Tensor:
        """Proprio tokens (B, N_p, C) from (B, N_p, P) ego-state features."""
        if self.proprio_in is None:
            raise ValueError('FlowMatchingActionHead: built without proprio_dim, cannot embed proprio tokens')
        if proprio.shape[-1] != self.proprio_dim:
            raise ValueError(
                f'FlowMatchingActionHead: proprio features must have {self.proprio_dim} channels, '
                f'got {tuple(proprio.shape)}'
            )
        return self.proprio_in(proprio.to(self.proprio_in.weight.dtype))

    def velocity(self, tokens: Tensor) -> Tensor:
        """Velocity (B, H, A) read from the backbone's action output tokens (B, H, C)."""
        return self.action_out(tokens)

    # ------------------------------------------------------------------ losses / sampling
    def loss(self, v_pred: Tensor, x0: Tensor, x1: Tensor, mask: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """``loss_flow``: MSE between ``v_pred`` and ``x1 - (1 - sigma_min) x0`` over valid steps.

        Args:
            v_pred, x0, x1 (Tensor): (B, H, A).
            mask (Tensor | None): (B, H) valid steps (non-zero); None = all valid.
        """
        err = (v_pred.float() - self.target_velocity(x0.float(), x1.float())) ** 2
        if mask is None:
            return dict(loss_flow=self.loss_weight * err.mean())
        w = mask.to(err).unsqueeze(-1).expand_as(err)
        return dict(loss_flow=self.loss_weight * (err * w).sum() / w.sum().clamp(min=1.0))

    def sample(self, velocity_fn: VelocityFn, noise: Tensor, num_steps: Optional[int] = None) -> Tensor:
        """Integrate the flow from ``noise`` (x0, (B, H, A)) with Euler steps.

        Args:
            velocity_fn (Callable): ``(x_t (B, H, A), t (B,)) -> v (B, H, A)``; must not modify shared
                state such as a prefix cache (it is called ``num_steps`` times on the same one).
            noise (Tensor): x0.
            num_steps (int | None): defaults to ``self.num_steps``.

        Returns:
            Tensor: (B, H, A) normalised actions (``from_actions`` gives the unit).
        """
        n = num_steps or self.num_steps
        x = noise
        t = torch.zeros(noise.shape[0], device=noise.device, dtype=torch.float32)
        for _ in range(n):
            x = x + velocity_fn(x, t).to(x) / n
            t = t + 1.0 / n
        return x
