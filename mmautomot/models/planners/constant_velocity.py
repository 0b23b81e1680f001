# Copyright (c) mmautomot contributors. All rights reserved.
"""Constant-velocity baseline: no learning, just extrapolation of the current motion."""

import torch
from torch import Tensor, nn

from mmautomot.registry import MODELS

from .base_ego_planner import BaseEgoPlanner


@MODELS.register_module()
class ConstantVelocityPlanner(BaseEgoPlanner):
    """Extrapolate the current ego velocity over the planning horizon (ego frame).

    The honest floor for open-loop planning numbers: with ``velocity_source='status'`` the ego
    keeps its speed ``ego_status[0]`` along its heading (+x), optionally turning at the constant
    yaw rate ``ego_status[3]`` (``use_yaw_rate``, a CTRV arc); with ``'history'`` the 2-D velocity
    is ``(0 - ego_hist_trajs[-1]) / hist_dt``, i.e. the last history point is taken to be
    ``hist_dt`` seconds before now. Step ``k`` (1..T) is at ``t = k * plan_dt``.

    It has no trainable weights; a zero ``dummy`` parameter lets the Runner build an optimizer so
    ``tools/train.py`` runs (the loss is the plan L1 for logging, with no gradient effect);
    testing directly with ``tools/test.py`` needs no checkpoint.

    Args:
        velocity_source (str): ``'status'`` or ``'history'``. Defaults to 'status'.
        use_yaw_rate (bool): with ``'status'``, follow the constant-turn-rate arc. Defaults to
            False.
        hist_dt (float): seconds between history points (and from the last one to now).
            Defaults to 0.5.
        **kwargs: :class:`BaseEgoPlanner` arguments (``fut_steps``, ``plan_dt``, ``loss_plan``,
            ``data_preprocessor``, ``init_cfg``).
    """

    def __init__(
        self, velocity_source: str = 'status', use_yaw_rate: bool = False, hist_dt: float = 0.5, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if velocity_source not in ('status', 'history'):
            raise ValueError(f"velocity_source must be 'status' or 'history', got {velocity_source!r}")
        self.velocity_source = velocity_source
        self.use_yaw_rate = use_yaw_rate
        self.hist_dt = float(hist_dt)
        self.dummy = nn.Parameter(torch.zeros(()))

    def predict_trajs(self, inputs: dict) -> Tensor:
        """(B, T, 2) extrapolated future positions, metres, ego frame."""
        if self.velocity_source == 'history':
            hist = self.batched(inputs, 'ego_hist_trajs').float()
            vel = -hist[:, -1] / self.hist_dt  # (B, 2)
            speed, yaw_rate = None, None
        else:
            status = self.batched(inputs, 'ego_status').float()
            speed, yaw_rate = status[:, 0], status[:, 3]
            vel = torch.stack([speed, torch.zeros_like(speed)], dim=-1)
        t = torch.arange(1, self.fut_steps + 1, dtype=vel.dtype, device=vel.device) * self.plan_dt
        if speed is None or not self.use_yaw_rate:
            trajs = vel[:, None, :] * t[None, :, None]
        else:
            trajs = self._arc(speed, yaw_rate, t)
        return trajs

    def loss(self, inputs: dict, data_samples) -> dict:
        """The plan L1 for logging, tied to ``dummy`` so ``backward`` works (zero gradient)."""
        losses = super().loss(inputs, data_samples)
        losses['loss_plan'] = losses['loss_plan'] + 0 * self.dummy
        return losses

    @staticmethod
    def _arc(speed: Tensor, yaw_rate: Tensor, t: Tensor, eps: float = 1e-4) -> Tensor:
        """Positions on a constant speed / yaw-rate arc from the origin heading +x."""
        w = yaw_rate[:, None]
        wt = w * t[None]
        small = w.abs() < eps
        w_safe = torch.where(small, torch.ones_like(w), w)
        x = torch.where(small, speed[:, None] * t[None], speed[:, None] * torch.sin(wt) / w_safe)
        y = torch.where(small, speed[:, None] * w * t[None] ** 2 / 2, speed[:, None] * (1 - torch.cos(wt)) / w_safe)
        return torch.stack([x, y], dim=-1)
