# Copyright (c) mmautomot contributors. All rights reserved.
"""Point-regression head for the action expert's path and waypoint queries."""

from typing import Dict, Optional

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmautomot.registry import MODELS


@MODELS.register_module()
class TrajectoryHead(BaseModule):
    """Regress one 2-D ego-frame point per query token.

    AutoMoT's action expert carries 20 spatial path queries (one point every 1 m along the future path)
    and 6 temporal waypoint queries (one point every 0.5 s up to 3 s); one instance of this head is used
    per query group. Each token goes through a 2-layer MLP to ``(x, y)`` in the current ego frame
    (x forward, y left, metres).

    With ``cumulative=True`` the MLP outputs per-step offsets and the head returns their cumulative sum
    along the query axis (point ``i`` = sum of offsets ``0..i``), so the trajectory starts near the ego
    and consecutive points stay close; with ``False`` (default) each token regresses its absolute point.

    Optionally the regressed points are a residual over a kinematic prior computed from the ego speed
    (``prior``): ``'constant_velocity'`` adds ``(v * dt * (i + 1), 0)`` for point ``i`` (temporal waypoints
    every ``prior_step`` seconds, straight ahead at the current speed ``v`` in m/s); ``'straight'`` adds
    ``(prior_step * (i + 1), 0)`` (spatial path points every ``prior_step`` metres). The network then
    learns the deviation from driving straight on, which a small model trained for minutes on a CPU
    otherwise spends most of its budget on. ``None`` (default) regresses the points directly.

    Args:
        in_channels (int): width C of the query tokens.
        num_points (int, optional): expected number of queries P (checked in :meth:`forward` when set).
        hidden_channels (int, optional): MLP hidden width. Defaults to ``in_channels``.
        cumulative (bool): predict offsets and cumulatively sum them. Defaults to False.
        loss_type (str): ``'l1'`` or ``'smooth_l1'``. Defaults to ``'l1'``.
        loss_weight (float): loss multiplier. Defaults to 1.0.
        beta (float): smooth-L1 transition point in metres. Defaults to 1.0.
        prior (str, optional): None, ``'constant_velocity'`` or ``'straight'``. Defaults to None.
        prior_step (float): seconds (constant velocity) or metres (straight) between points.
            Defaults to 0.5.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(
        self,
        in_channels: int,
        num_points: Optional[int] = None,
        hidden_channels: Optional[int] = None,
        cumulative: bool = False,
        loss_type: str = 'l1',
        loss_weight: float = 1.0,
        beta: float = 1.0,
        prior: Optional[str] = None,
        prior_step: float = 0.5,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        hidden = hidden_channels or in_channels
        self.in_channels = in_channels
        self.num_points = num_points
        self.cumulative = cumulative
        if prior not in (None, 'constant_velocity', 'straight'):
            raise ValueError(f"TrajectoryHead: prior must be None, 'constant_velocity' or 'straight', got {prior!r}")
        self.prior = prior
        self.prior_step = float(prior_step)
        self.mlp = nn.Sequential(
            nn.LayerNorm(in_channels), nn.Linear(in_channels, hidden), nn.GELU(), nn.Linear(hidden, 2)
        )
        self.loss_fn = MODELS.build(
            dict(type='MaskedTrajectoryLoss', loss_type=loss_type, loss_weight=loss_weight, beta=beta)
        )

    def forward(self, query_tokens: Tensor, speed: Optional[Tensor] = None) -> Tensor:
        """Regress the points.

        Args:
            query_tokens (Tensor): (B, P, C) path or waypoint query tokens.
            speed (Tensor, optional): (B,) ego speed in m/s; required with ``prior='constant_velocity'``.

        Returns:
            Tensor: (B, P, 2) points in the ego frame, metres.
        """
        if query_tokens.dim() != 3 or query_tokens.shape[-1] != self.in_channels:
            raise ValueError(
                f'TrajectoryHead: query_tokens must be (B, P, {self.in_channels}), got {tuple(query_tokens.shape)}'
            )
        if self.num_points is not None and query_tokens.shape[1] != self.num_points:
            raise ValueError(f'TrajectoryHead: expected {self.num_points} query tokens, got {query_tokens.shape[1]}')
        out = self.mlp(query_tokens)
        out = out.cumsum(dim=1) if self.cumulative else out
        return out if self.prior is None else out + self.prior_points(query_tokens, speed)

    def prior_points(self, query_tokens: Tensor, speed: Optional[Tensor] = None) -> Tensor:
        """The kinematic prior, (B, P, 2) in the ego frame (see the class docstring)."""
        bsz, num = query_tokens.shape[:2]
        steps = torch.arange(1, num + 1, device=query_tokens.device, dtype=query_tokens.dtype) * self.prior_step
        if self.prior == 'constant_velocity':
            if speed is None:
                raise ValueError("TrajectoryHead: prior='constant_velocity' needs the ego speed (B,)")
            x = speed.reshape(bsz, 1).to(query_tokens.dtype) * steps[None]
        else:
            x = steps[None].expand(bsz, -1)
        return torch.stack([x, torch.zeros_like(x)], dim=-1)

    def loss(self, pred: Tensor, gt: Tensor, mask: Optional[Tensor] = None, prefix: str = 'path') -> Dict[str, Tensor]:
        """Masked regression loss (mean over valid point coordinates, see ``MaskedTrajectoryLoss``).

        Args:
            pred (Tensor): (B, P, 2) from :meth:`forward`.
            gt (Tensor): (B, P, 2) ground truth in the ego frame, metres.
            mask (Tensor, optional): (B, P) validity; ``None`` = all valid.
            prefix (str): key suffix, e.g. ``'path'`` or ``'traj'``. Defaults to ``'path'``.

        Returns:
            dict: ``{f'loss_{prefix}': scalar}``.
        """
        return {f'loss_{prefix}': self.loss_fn(pred, gt.to(pred.device), mask)}
