# Copyright (c) mmautomot contributors. All rights reserved.
"""Input tokens of the AutoMoT action expert: BEV, target point, speed and learned queries."""

from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmautomot.registry import MODELS


def _mlp(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))


@MODELS.register_module()
class AutoMoTActionTokens(BaseModule):
    """Build the action-expert token sequence of AutoMoT.

    Paper: AutoMoT (released agent: 64 BEV tokens, 2 target-point tokens, 1 speed token, 8 decision queries,
    20 route queries, 6 waypoint queries). Order and mask groups:
    ``[BEV | target points | speed | decision queries]`` form the *decision* group (so decisions see the
    scene), ``[route queries | waypoint queries]`` the *planning* group.

    Args:
        hidden_size (int): AE width C_a.
        bev_channels (int): width of the BEV encoder tokens.
        num_bev_tokens (int): G*G BEV tokens. Defaults to 64.
        num_target_tokens (int): target-point tokens. Defaults to 2. ``inputs['target_point']`` may be
            (B, 2) (one point, shared by every slot, each slot has its own learned embedding) or
            (B, n, 2) with n == num_target_tokens (ego frame, metres).
        num_speed_tokens (int): ego-state tokens from ``ego_status`` (B, 4) (speed m/s, lon acc, lat acc,
            yaw rate) plus a navigation-command embedding. Defaults to 1.
        num_decision_queries (int): Defaults to 8.
        num_route_queries (int): spatial path queries. Defaults to 20.
        num_waypoint_queries (int): temporal waypoint queries. Defaults to 6.
        num_commands (int): size of the command vocabulary. Defaults to 6.
        target_scale (float): metres divided out of the target point before embedding. Defaults to 32.
    """

    def __init__(
        self,
        hidden_size: int,
        bev_channels: int,
        num_bev_tokens: int = 64,
        num_target_tokens: int = 2,
        num_speed_tokens: int = 1,
        num_decision_queries: int = 8,
        num_route_queries: int = 20,
        num_waypoint_queries: int = 6,
        num_commands: int = 6,
        target_scale: float = 32.0,
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(init_cfg=init_cfg)
        self.num = dict(
            bev=num_bev_tokens,
            target=num_target_tokens,
            speed=num_speed_tokens,
            decision=num_decision_queries,
            route=num_route_queries,
            waypoint=num_waypoint_queries,
        )
        self.target_scale = target_scale
        self.bev_proj = nn.Linear(bev_channels, hidden_size)
        self.bev_pos = nn.Parameter(torch.randn(num_bev_tokens, hidden_size) * 0.02)
        self.target_mlp = _mlp(2, hidden_size)
        self.target_slot = nn.Parameter(torch.randn(num_target_tokens, hidden_size) * 0.02)
        self.speed_mlp = _mlp(4, hidden_size)
        self.speed_slot = nn.Parameter(torch.randn(num_speed_tokens, hidden_size) * 0.02)
        self.command_embed = nn.Embedding(num_commands, hidden_size)
        self.decision_queries = nn.Parameter(torch.randn(num_decision_queries, hidden_size) * 0.02)
        self.route_queries = nn.Parameter(torch.randn(num_route_queries, hidden_size) * 0.02)
        self.waypoint_queries = nn.Parameter(torch.randn(num_waypoint_queries, hidden_size) * 0.02)

    @property
    def group_sizes(self):
        """(decision group, planning group) sizes for the task mask."""
        n = self.num
        return (n['bev'] + n['target'] + n['speed'] + n['decision'], n['route'] + n['waypoint'])

    def slices(self) -> Dict[str, slice]:
        """Positions of each token kind in the AE sequence."""
        out, start = {}, 0
        for k in ('bev', 'target', 'speed', 'decision', 'route', 'waypoint'):
            out[k] = slice(start, start + self.num[k])
            start += self.num[k]
        return out

    def forward(self, bev_tokens: Tensor, target_point: Tensor, ego_status: Tensor, command: Tensor) -> Tensor:
        """Assemble the sequence.

        Args:
            bev_tokens (Tensor): (B, num_bev_tokens, bev_channels) from the BEV encoder.
            target_point (Tensor): (B, 2) or (B, num_target_tokens, 2), ego frame, metres.
            ego_status (Tensor): (B, 4).
            command (Tensor): (B,) long.

        Returns:
            Tensor: (B, L_a, C_a).
        """
        bsz = bev_tokens.shape[0]
        if bev_tokens.shape[1] != self.num['bev']:
            raise ValueError(
                f'AutoMoTActionTokens: expected {self.num["bev"]} BEV tokens, got '
                f'{bev_tokens.shape[1]} (check the BEV encoder grid_size)'
            )
        tp = target_point.reshape(bsz, -1, 2).float() / self.target_scale
        if tp.shape[1] not in (1, self.num['target']):
            raise ValueError(
                f'AutoMoTActionTokens: target_point must be (B, 2) or (B, {self.num["target"]}, 2), '
                f'got {tuple(target_point.shape)}'
            )
        tp = self.target_mlp(tp.to(self.target_slot.dtype)).expand(-1, self.num['target'], -1) + self.target_slot
        speed = self.speed_mlp(ego_status.reshape(bsz, 4).to(self.speed_slot.dtype))[:, None]
        speed = speed + self.command_embed(command.reshape(bsz).long())[:, None] + self.speed_slot

        def q(p):
            return p[None].expand(bsz, -1, -1)

        return torch.cat(
            [
                self.bev_proj(bev_tokens) + self.bev_pos,
                tp,
                speed,
                q(self.decision_queries),
                q(self.route_queries),
                q(self.waypoint_queries),
            ],
            dim=1,
        )
