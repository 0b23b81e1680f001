# Copyright (c) mmautomot contributors. All rights reserved.
"""Heads of the released AutoMoT code: route / waypoints, velocity, and decisions through the UE's lm_head."""

from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmautomot.registry import MODELS
from mmautomot.structures.meta_actions import LATERAL_CLASSES, LONGITUDINAL_CLASSES


@MODELS.register_module()
class ReleasedTrajectoryHead(BaseModule):
    """Route or waypoint head of the released AutoMoT: an MLP per query token, then a cumulative sum.

    Paper: AutoMoT (released ``RouteHead`` / ``WaypointsHead``): ``Linear(C, 512) - SiLU - Linear(512, 256) -
    SiLU - Linear(256, 2, bias=False)`` per token gives per-point deltas (ego frame, metres, x forward,
    y left); points are their cumulative sum over the query axis.

    Losses (released recipe): ``loss_on='points'`` (route): mean L1 on the absolute points;
    ``loss_on='offsets'`` (waypoints): L1 on the per-step offsets ``p_t - p_{t-1}`` (``p_0`` itself first)
    weighted by ``step_weights`` (released [3, 3, 2, 2, 1, 1]) and divided by ``sum(w) * 2`` per sample. A
    (B, P) validity mask multiplies the weights (the released code has none; all-ones gives its value).

    Quirk of the released weights (``released_cumsum_quirk=True``, off for new training): the released
    route head runs ``cumsum(dim=1)`` on the packed (B * P, 2) MLP output, i.e. over the *coordinate* axis:
    each point is ``(dx, dx + dy)`` of its own token and nothing is summed over the points. Set it when
    running released route weights; only valid with ``loss_on='points'``.

    Tensor contract: ``forward(tokens (B, P, C), speed=None) -> (B, P, 2)`` points;
    ``loss(pred (B, P, 2), gt (B, P, 2), mask (B, P) | None, prefix) -> {f'loss_{prefix}': scalar}``.

    Args:
        in_channels (int): token width C.
        num_points (int): P (route 20, waypoints 6).
        hidden_channels (Sequence[int]): MLP widths. Defaults to (512, 256).
        loss_on (str): ``'points'`` or ``'offsets'``. Defaults to ``'points'``.
        step_weights (Sequence[float] | None): per-step weights of the offset loss (length P).
        loss_weight (float): multiplier. Defaults to 1.0.
        released_cumsum_quirk (bool): reproduce the released route head's coordinate-axis cumsum.
            Defaults to False.
        init_cfg (dict | None): mmengine init config.
    """

    def __init__(
        self,
        in_channels: int,
        num_points: int,
        hidden_channels: Sequence[int] = (512, 256),
        loss_on: str = 'points',
        step_weights: Optional[Sequence[float]] = None,
        loss_weight: float = 1.0,
        released_cumsum_quirk: bool = False,
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(init_cfg=init_cfg)
        if loss_on not in ('points', 'offsets'):
            raise ValueError(f"ReleasedTrajectoryHead: loss_on must be 'points' or 'offsets', got {loss_on!r}")
        if released_cumsum_quirk and loss_on != 'points':
            raise ValueError(
                'ReleasedTrajectoryHead: released_cumsum_quirk is the released route head '
                "(loss_on='points'); offsets are undefined with it"
            )
        if step_weights is not None and len(step_weights) != num_points:
            raise ValueError(f'ReleasedTrajectoryHead: {len(step_weights)} step_weights for {num_points} points')
        h1, h2 = hidden_channels
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, h1), nn.SiLU(), nn.Linear(h1, h2), nn.SiLU(), nn.Linear(h2, 2, bias=False)
        )
        self.num_points = num_points
        self.loss_on = loss_on
        self.loss_weight = loss_weight
        self.released_cumsum_quirk = released_cumsum_quirk
        self.register_buffer(
            'step_weights',
            torch.tensor(step_weights if step_weights is not None else [1.0] * num_points, dtype=torch.float32),
            persistent=False,
        )

    def forward(self, tokens: Tensor, speed: Optional[Tensor] = None) -> Tensor:
        if tokens.dim() != 3 or tokens.shape[1] != self.num_points:
            raise ValueError(
                f'ReleasedTrajectoryHead: tokens must be (B, {self.num_points}, C), got {tuple(tokens.shape)}'
            )
        deltas = self.mlp(tokens)
        return deltas.cumsum(dim=-1) if self.released_cumsum_quirk else deltas.cumsum(dim=1)

    @staticmethod
    def to_offsets(points: Tensor) -> Tensor:
        """(B, P, 2) points -> per-step offsets (the first point itself, then differences)."""
        return torch.cat([points[:, :1], points[:, 1:] - points[:, :-1]], dim=1)

    def loss(self, pred: Tensor, gt: Tensor, mask: Optional[Tensor] = None, prefix: str = 'traj') -> Dict[str, Tensor]:
        gt = gt.to(pred.device, pred.dtype)
        if gt.shape != pred.shape:
            raise ValueError(
                f'ReleasedTrajectoryHead.loss ({prefix}): gt {tuple(gt.shape)} != pred {tuple(pred.shape)}'
            )
        w = torch.ones(pred.shape[:2], device=pred.device, dtype=pred.dtype)
        if mask is not None:
            w = w * mask.to(pred.device, pred.dtype).reshape(pred.shape[:2])
        if self.loss_on == 'offsets':
            err = (self.to_offsets(pred) - self.to_offsets(gt)).abs()
            w = w * self.step_weights.to(pred.device, pred.dtype)
        else:
            err = (pred - gt).abs()
        loss = (err * w[..., None]).sum() / (w.sum() * 2).clamp(min=1.0)
        return {f'loss_{prefix}': loss * self.loss_weight}


@MODELS.register_module()
class ReleasedVelocityHead(BaseModule):
    """Future-speed head of the released AutoMoT on the velocity token: ``Linear(C, C) - LeakyReLU(0.1) -
    Linear(C, 3)``, smooth-L1 loss (released weight 0.5).

    Targets: ``gt_future_speeds`` (B, 3) m/s when the data samples carry it; otherwise (our choice, the
    released data pipeline is not reproduced) the mean speed over each second of the GT waypoints
    (``gt_ego_fut_trajs`` at ``dt`` s per step, ``steps_per_second`` steps per second), masked by
    ``gt_ego_fut_masks``.

    Tensor contract: ``forward(token (B, C)) -> (B, 3)``.

    Args:
        in_channels (int): C.
        num_outputs (int): Defaults to 3.
        loss_weight (float): Defaults to 0.5.
        dt (float): seconds per waypoint. Defaults to 0.5.
        steps_per_second (int): Defaults to 2.
    """

    def __init__(
        self,
        in_channels: int,
        num_outputs: int = 3,
        loss_weight: float = 0.5,
        dt: float = 0.5,
        steps_per_second: int = 2,
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(init_cfg=init_cfg)
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, in_channels), nn.LeakyReLU(0.1), nn.Linear(in_channels, num_outputs)
        )
        self.num_outputs, self.loss_weight = num_outputs, loss_weight
        self.dt, self.steps_per_second = dt, steps_per_second

    def forward(self, token: Tensor) -> Tensor:
        return self.mlp(token)

    def speeds_from_traj(self, traj: Tensor, mask: Optional[Tensor] = None):
        """(B, T, 2) waypoints -> ((B, num_outputs) mean speed per second, (B, num_outputs) validity)."""
        pts = torch.cat([traj.new_zeros(traj.shape[0], 1, 2), traj], dim=1)
        step_speed = (pts[:, 1:] - pts[:, :-1]).norm(dim=-1) / self.dt  # (B, T)
        n = self.steps_per_second
        if step_speed.shape[1] < n * self.num_outputs:
            raise ValueError(
                f'ReleasedVelocityHead: {step_speed.shape[1]} waypoints < {n * self.num_outputs} '
                'needed for the speed targets'
            )
        sp = step_speed[:, : n * self.num_outputs].unflatten(1, (self.num_outputs, n)).mean(-1)
        valid = torch.ones_like(sp)
        if mask is not None:
            valid = mask[:, : n * self.num_outputs].to(sp).unflatten(1, (self.num_outputs, n)).amin(-1)
        return sp, valid

    def loss(self, pred: Tensor, gt: Tensor, valid: Optional[Tensor] = None) -> Dict[str, Tensor]:
        err = F.smooth_l1_loss(pred, gt.to(pred), reduction='none')
        if valid is None:
            return dict(loss_velocity=err.mean() * self.loss_weight)
        valid = valid.to(pred)
        return dict(loss_velocity=(err * valid).sum() / valid.sum().clamp(min=1.0) * self.loss_weight)


@MODELS.register_module()
class LMHeadDecisionHead(BaseModule):
    """Meta-action decisions read by one parallel pass of the UE's ``lm_head`` over the reasoning tokens.

    Paper: AutoMoT (released code: the final-normed AE reasoning tokens go through the UE's tied
    ``lm_head``; cross-entropy over the vocabulary at the labelled positions, weight 0.4). The released
    layout keeps the UE width, so the UE's output embedding applies to AE tokens directly; this head has no
    weights of its own and the model binds the UE's ``lm_head`` to it (:meth:`bind_lm_head`).

    Which reasoning slot carries which decision, and which vocabulary token is which class, is
    configuration: slot ``lateral_slots[k]`` holds the lateral class of horizon k as one of the tokens
    ``decision_token_ids['lateral']`` (one id per :data:`LATERAL_CLASSES` entry), likewise longitudinal.
    Other slots are not supervised. When loading released weights these must follow the released
    tokenisation of its decision text.

    Output: log-probabilities under the full-vocabulary softmax, restricted to the candidate tokens,
    (B, K, n_lat + n_lon): the NLL of a label equals the released full-vocabulary cross-entropy, and the
    arg-max over candidates gives the class.

    Tensor contract: ``forward(tokens (B, N_q, C)) -> (B, K, n_lat + n_lon)``; ``loss(logits, gt (B, K, 2))``;
    ``predict(logits) -> (B, K, 2)`` long.

    Args:
        decision_token_ids (dict): ``lateral`` (n_lat ids) and ``longitudinal`` (n_lon ids); an entry may be
            a text that the UE tokenizer encodes to one token (resolved at the first forward).
        lateral_slots (Sequence[int]): reasoning slot of each horizon's lateral token. Defaults to (0, 2, 4).
        longitudinal_slots (Sequence[int]): Defaults to (1, 3, 5).
        loss_weight (float): Defaults to 0.4.
        in_channels (int | None): AE width (unused; accepted for the AutoMoT head interface).
    """

    num_lat = len(LATERAL_CLASSES)
    num_lon = len(LONGITUDINAL_CLASSES)
    ignore_index = -1

    def __init__(
        self,
        decision_token_ids: dict,
        lateral_slots: Sequence[int] = (0, 2, 4),
        longitudinal_slots: Sequence[int] = (1, 3, 5),
        loss_weight: float = 0.4,
        in_channels: Optional[int] = None,
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(init_cfg=init_cfg)
        lat, lon = list(decision_token_ids['lateral']), list(decision_token_ids['longitudinal'])
        if len(lat) != self.num_lat or len(lon) != self.num_lon:
            raise ValueError(
                f'LMHeadDecisionHead: decision_token_ids needs {self.num_lat} lateral and {self.num_lon} '
                f'longitudinal ids, got {len(lat)} / {len(lon)}'
            )
        if len(lateral_slots) != len(longitudinal_slots):
            raise ValueError('LMHeadDecisionHead: lateral_slots and longitudinal_slots differ in length')
        self._cand = lat + lon  # ints, or texts resolved by the bound tokenizer at the first forward
        ids = [c if isinstance(c, int) else -1 for c in self._cand]
        self.register_buffer('cand_ids', torch.tensor(ids, dtype=torch.long), persistent=False)
        self.lateral_slots, self.longitudinal_slots = list(lateral_slots), list(longitudinal_slots)
        self.num_horizons = len(lateral_slots)
        self.loss_weight = loss_weight
        self._lm_head = None

    def bind_lm_head(self, lm_head: nn.Module, tokenizer=None) -> None:
        """Use ``lm_head`` (the UE's tied output embedding) without registering it as a sub-module (its
        weights stay the UE's: one copy, one state-dict key); ``tokenizer`` resolves decision tokens given
        as texts (each must encode to exactly one token)."""
        object.__setattr__(self, '_lm_head', lm_head)
        object.__setattr__(self, '_tokenizer', tokenizer)

    def _resolve(self) -> None:
        ids = []
        for c in self._cand:
            if isinstance(c, int):
                ids.append(c)
                continue
            if getattr(self, '_tokenizer', None) is None:
                raise RuntimeError(f'LMHeadDecisionHead: decision token {c!r} is a text but no tokenizer is bound')
            enc = self._tokenizer.encode(c)
            if len(enc) != 1:
                raise ValueError(
                    f'LMHeadDecisionHead: decision token text {c!r} encodes to {len(enc)} tokens {enc}; '
                    'give one token per class (or its id)'
                )
            ids.append(int(enc[0]))
        self.cand_ids.copy_(torch.tensor(ids, dtype=torch.long))

    def forward(self, tokens: Tensor) -> Tensor:
        if self._lm_head is None:
            raise RuntimeError('LMHeadDecisionHead: no lm_head bound (AutoMoT binds the UE lm_head)')
        weight = self._lm_head.weight
        if self.cand_ids.is_meta:  # a shape-only run on the meta device (memory estimate): ids are irrelevant
            ids = torch.zeros(self.cand_ids.shape, dtype=torch.long, device=weight.device)
        else:
            if (self.cand_ids < 0).any():
                self._resolve()
            if self.cand_ids.max() >= weight.shape[0]:
                raise ValueError(
                    f'LMHeadDecisionHead: decision token id {int(self.cand_ids.max())} >= vocabulary {weight.shape[0]}'
                )
            ids = self.cand_ids
        logp = F.log_softmax(self._lm_head(tokens.to(weight.dtype)).float(), dim=-1)  # one pass, (B, N_q, V)
        lat = logp[:, self.lateral_slots][..., ids[: self.num_lat]]  # (B, K, n_lat)
        lon = logp[:, self.longitudinal_slots][..., ids[self.num_lat :]]
        return torch.cat([lat, lon], dim=-1)

    def loss(self, logits: Tensor, gt: Tensor) -> Dict[str, Tensor]:
        """Full-vocabulary cross-entropy of the labelled slots (``-1`` labels ignored)."""
        if gt.shape != (*logits.shape[:2], 2):
            raise ValueError(f'LMHeadDecisionHead.loss: gt must be {(*logits.shape[:2], 2)}, got {tuple(gt.shape)}')
        gt = gt.long().to(logits.device)
        nll = []
        for part, lp in ((gt[..., 0], logits[..., : self.num_lat]), (gt[..., 1], logits[..., self.num_lat :])):
            keep = part != self.ignore_index
            nll.append(-lp[keep].gather(-1, part[keep][:, None]).squeeze(-1))
        nll = torch.cat(nll)
        loss = nll.mean() if nll.numel() else logits.sum() * 0
        return dict(loss_decision=loss * self.loss_weight)

    def predict(self, logits: Tensor) -> Tensor:
        return torch.stack([logits[..., : self.num_lat].argmax(-1), logits[..., self.num_lat :].argmax(-1)], dim=-1)
