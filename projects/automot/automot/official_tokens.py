# Copyright (c) mmautomot contributors. All rights reserved.
"""Action-expert input tokens of the released AutoMoT code (what its checkpoint holds)."""

from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor
from transformers.activations import ACT2FN

from mmautomot.registry import MODELS


def point_encoder(in_dim: int, channels: Sequence[int], out_dim: int) -> nn.Sequential:
    """``in_dim -> channels[0] -> channels[1] -> out_dim`` with ReLU between (indices 0, 2, 4 are Linear)."""
    dims = [in_dim, *channels, out_dim]
    layers = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class QueryConnector(nn.Module):
    """Two-layer MLP connector ``fc2(act(fc1(x)))`` from the query width to the AE width (Bagel style)."""

    def __init__(self, in_dim: int, out_dim: int, act: str = 'gelu_pytorch_tanh'):
        super().__init__()
        self.fc1 = nn.Linear(in_dim, out_dim)
        self.act = ACT2FN[act]
        self.fc2 = nn.Linear(out_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


@MODELS.register_module()
class ReleasedActionTokens(BaseModule):
    """AE token sequence of the released AutoMoT agent.

    Paper: AutoMoT (released code, ``automot.py``): 64 BEV tokens (a Linear of the 1512-channel 8 x 8
    TransFuser++ BEV feature), 2 target-point tokens and 1 velocity token (MLPs ``2 -> 256 -> 512 -> C`` and
    ``1 -> 256 -> 512 -> C``, ReLU; target points in metres, speed in m/s, no normalisation), 8 reasoning,
    20 route and 6 waypoint queries (``nn.Embedding`` rows of width ``query_dim`` = 588 through a
    two-layer MLP connector ``fc1``/``fc2``). No navigation-command token: the command is in the UE prompt.

    Sequence order and mask groups as the released data packing builds them (one ``full`` block each, in
    this order after the UE prefix): ``[BEV] [target points, velocity] [reasoning] [route] [waypoints]``;
    each block attends to itself bidirectionally and to every earlier block (the task mask with five
    groups, :attr:`group_sizes`), so e.g. the BEV tokens do not see the queries.

    Tensor contract: ``forward(bev_tokens (B, num_bev_tokens, bev_channels), target_point (B, 2) or
    (B, num_target_tokens, 2) ego-frame metres, ego_status (B, 4) with speed m/s first, command (B,) unused)
    -> (B, L_a, hidden_size)``.

    Args:
        hidden_size (int): AE width C (the UE's in the released layout, 2560).
        bev_channels (int): BEV feature channels (released 1512).
        num_bev_tokens / num_target_tokens / num_speed_tokens (int): 64 / 2 / 1.
        num_decision_queries / num_route_queries / num_waypoint_queries (int): 8 / 20 / 6.
        query_dim (int): width of the learned query embeddings (released 588).
        encoder_channels (Sequence[int]): hidden widths of the point encoders. Defaults to (256, 512).
        connector_act (str): activation of the connectors (transformers' ``ACT2FN`` name). Defaults to
            ``'gelu_pytorch_tanh'``.
        init_cfg (dict | None): mmengine init config.
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
        query_dim: int = 588,
        encoder_channels: Sequence[int] = (256, 512),
        connector_act: str = 'gelu_pytorch_tanh',
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(init_cfg=init_cfg)
        if num_speed_tokens != 1:
            raise ValueError(f'ReleasedActionTokens: one velocity token, got num_speed_tokens={num_speed_tokens}')
        self.num = dict(
            bev=num_bev_tokens,
            target=num_target_tokens,
            speed=num_speed_tokens,
            decision=num_decision_queries,
            route=num_route_queries,
            waypoint=num_waypoint_queries,
        )
        self.bev_proj = nn.Linear(bev_channels, hidden_size)
        self.target_point_encoder = point_encoder(2, encoder_channels, hidden_size)
        self.velocity_encoder = point_encoder(1, encoder_channels, hidden_size)
        self.reasoning_queries = nn.Embedding(num_decision_queries, query_dim)
        self.reasoning_projector = QueryConnector(query_dim, hidden_size, connector_act)
        self.route_queries = nn.Embedding(num_route_queries, query_dim)
        self.route_projector = QueryConnector(query_dim, hidden_size, connector_act)
        self.waypoint_queries = nn.Embedding(num_waypoint_queries, query_dim)
        self.waypoint_projector = QueryConnector(query_dim, hidden_size, connector_act)

    @property
    def group_sizes(self):
        """Task-mask groups of the released packing: (BEV, target points + velocity, reasoning, route,
        waypoints)."""
        n = self.num
        return (n['bev'], n['target'] + n['speed'], n['decision'], n['route'], n['waypoint'])

    def slices(self) -> Dict[str, slice]:
        """Positions of each token kind in the AE sequence."""
        out, start = {}, 0
        for k in ('bev', 'target', 'speed', 'decision', 'route', 'waypoint'):
            out[k] = slice(start, start + self.num[k])
            start += self.num[k]
        return out

    def forward(
        self, bev_tokens: Tensor, target_point: Tensor, ego_status: Tensor, command: Optional[Tensor] = None
    ) -> Tensor:
        bsz = bev_tokens.shape[0]
        if bev_tokens.shape[1] != self.num['bev']:
            raise ValueError(
                f'ReleasedActionTokens: expected {self.num["bev"]} BEV tokens, got '
                f'{bev_tokens.shape[1]} (check the BEV encoder grid_size)'
            )
        dtype = self.bev_proj.weight.dtype
        tp = target_point.reshape(bsz, -1, 2).to(dtype)
        if tp.shape[1] not in (1, self.num['target']):
            raise ValueError(
                f'ReleasedActionTokens: target_point must be (B, 2) or (B, {self.num["target"]}, 2), '
                f'got {tuple(target_point.shape)}'
            )
        tp = self.target_point_encoder(tp.expand(-1, self.num['target'], -1))
        speed = self.velocity_encoder(ego_status.reshape(bsz, -1)[:, :1].to(dtype))[:, None]

        def queries(emb: nn.Embedding, proj: QueryConnector) -> Tensor:
            return proj(emb.weight)[None].expand(bsz, -1, -1)

        return torch.cat(
            [
                self.bev_proj(bev_tokens.to(dtype)),
                tp,
                speed,
                queries(self.reasoning_queries, self.reasoning_projector),
                queries(self.route_queries, self.route_projector),
                queries(self.waypoint_queries, self.waypoint_projector),
            ],
            dim=1,
        )
