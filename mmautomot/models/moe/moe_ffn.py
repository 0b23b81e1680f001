# Copyright (c) mmautomot contributors. All rights reserved.
"""A mixture-of-experts feed-forward: shared experts + top-k routed SwiGLU experts."""

from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmautomot.registry import MODELS

from ..mot.action_expert_layer import _SwiGLU as SwiGLU  # the action expert's dense FFN, one definition


class RoutingState:
    """The routing of one forward pass, shared by the MoE FFNs of a group (not a module: no parameters).

    ``logits`` (B, L, E) router logits, ``weights`` (B, L, k) renormalised top-k probabilities,
    ``indices`` (B, L, k) expert ids, ``aux_loss`` the load-balancing loss (or None).
    """

    def __init__(self):
        self.logits: Optional[Tensor] = None
        self.weights: Optional[Tensor] = None
        self.indices: Optional[Tensor] = None
        self.aux_loss: Optional[Tensor] = None


def top_k_routing(logits: Tensor, k: int):
    """Softmax over experts, top-k, renormalised: returns (weights (..., k), indices (..., k))."""
    probs = logits.float().softmax(dim=-1)
    w, idx = probs.topk(k, dim=-1)
    return w / w.sum(dim=-1, keepdim=True), idx


def load_balancing_loss(logits: Tensor, indices: Tensor, num_experts: int) -> Tensor:
    """Switch-transformer auxiliary loss ``E * sum_e f_e P_e`` (f: share of top-k slots routed to e,
    P: mean router probability of e) over all tokens; 1.0 when perfectly balanced."""
    probs = logits.float().softmax(-1).reshape(-1, num_experts)
    counts = F.one_hot(indices.reshape(-1), num_experts).float().mean(0)
    return num_experts * (counts * probs.mean(0)).sum()


@MODELS.register_module()
class MoEFFN(nn.Module):
    """Mixture-of-experts FFN: ``sum_s shared_s(x) + sum_{e in top-k(x)} w_e expert_e(x)``.

    Paper: DriveMoE (skill-specialised action MoE: 1 shared + 7 skill experts, top-3 after softmax,
    renormalised; a trajectory-level router or a token-level one). Used as the pluggable ``mlp`` of an
    :class:`mmautomot.models.mot.ActionExpertLayer` (``ffn=dict(type='MoEFFN', ...)``): its ``forward``
    takes the post-attention-normed hidden states like a dense FFN.

    Routing: with ``route=True`` the FFN computes the routing from its own input and stores it in
    ``self.routing`` (a :class:`RoutingState`); with ``route=False`` it has no router and reuses the
    routing of the FFN it was linked to by :func:`share_routing` (DriveMoE's released code routes once,
    from the states entering the first MoE layer, and reuses it in the later MoE layers). Each forward of
    the routing FFN recomputes it (e.g. at every flow step).

    Tensor contract: ``forward(x (B, L, C)) -> (B, L, C)``; after it, ``routing.logits`` (B, L, E),
    ``routing.weights`` / ``routing.indices`` (B, L, k).

    Args:
        hidden_size (int): C.
        intermediate_size (int): FFN width of each expert.
        num_experts (int): E routed experts. Defaults to 7.
        num_shared_experts (int): always-on experts. Defaults to 1.
        top_k (int): experts per token. Defaults to 3.
        router (dict | None): ``TrajectoryRouter`` / ``TokenRouter`` config without ``hidden_size`` /
            ``num_experts``; required when ``route=True``. Defaults to ``dict(type='TrajectoryRouter')``.
        route (bool): own a router (True) or reuse a linked FFN's routing (False). Defaults to True.
        aux_loss (bool): compute the load-balancing loss into ``routing.aux_loss``. Defaults to False (the
            released code has none).
    """

    def __init__(
        self,
        hidden_size: int,
        intermediate_size: int,
        num_experts: int = 7,
        num_shared_experts: int = 1,
        top_k: int = 3,
        router: Optional[dict] = None,
        route: bool = True,
        aux_loss: bool = False,
    ):
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError(f'MoEFFN: top_k must be in [1, num_experts={num_experts}], got {top_k}')
        self.num_experts, self.top_k, self.aux_loss = num_experts, top_k, aux_loss
        self.shared_experts = nn.ModuleList(SwiGLU(hidden_size, intermediate_size) for _ in range(num_shared_experts))
        self.experts = nn.ModuleList(SwiGLU(hidden_size, intermediate_size) for _ in range(num_experts))
        self.router = None
        if route:
            cfg = dict(router or dict(type='TrajectoryRouter'))
            self.router = MODELS.build(dict(cfg, hidden_size=hidden_size, num_experts=num_experts))
        self.routing = RoutingState()

    def compute_routing(self, x: Tensor) -> RoutingState:
        """Route ``x`` (B, L, C) and store the result in ``self.routing`` (shared by linked FFNs)."""
        if self.router is None:
            raise RuntimeError('MoEFFN: built with route=False; link it to a routing FFN with share_routing()')
        logits = self.router(x)
        w, idx = top_k_routing(logits, self.top_k)
        st = self.routing
        st.logits, st.weights, st.indices = logits, w, idx
        st.aux_loss = load_balancing_loss(logits, idx, self.num_experts) if self.aux_loss else None
        return st

    def forward(self, x: Tensor) -> Tensor:
        st = self.compute_routing(x) if self.router is not None else self.routing
        if st.weights is None:
            raise RuntimeError('MoEFFN: no routing yet; the routing FFN of the group must run first')
        if st.weights.shape[:2] != x.shape[:2]:
            raise ValueError(f'MoEFFN: routing for {tuple(st.weights.shape[:2])} tokens, input {tuple(x.shape[:2])}')
        out = x.new_zeros(x.shape)
        for shared in self.shared_experts:
            out = out + shared(x)
        flat_x, flat_w, flat_i = (
            x.reshape(-1, x.shape[-1]),
            st.weights.reshape(-1, self.top_k),
            st.indices.reshape(-1, self.top_k),
        )
        routed = torch.zeros_like(flat_x)
        for e, expert in enumerate(self.experts):
            rows, slot = (flat_i == e).nonzero(as_tuple=True)
            if rows.numel():
                y = expert(flat_x[rows]) * flat_w[rows, slot, None].to(flat_x)
                routed = routed.index_add(0, rows, y)
        return out + routed.reshape(x.shape)


def share_routing(ffns: Sequence[MoEFFN]) -> None:
    """Make every FFN of ``ffns`` use the routing of the first (which must own a router)."""
    ffns = list(ffns)
    if not ffns:
        return
    if ffns[0].router is None:
        raise ValueError('share_routing: the first MoEFFN must own a router (route=True)')
    for f in ffns[1:]:
        if f.router is not None:
            raise ValueError('share_routing: only the first MoEFFN of a group may own a router')
        f.routing = ffns[0].routing


def moe_aux_losses(module: nn.Module) -> List[Tensor]:
    """Load-balancing losses of the routing MoE FFNs under ``module`` (computed in the last forward)."""
    return [
        m.routing.aux_loss
        for m in module.modules()
        if isinstance(m, MoEFFN) and m.router is not None and m.routing.aux_loss is not None
    ]


def moe_router_logits(module: nn.Module) -> Dict[str, Tensor]:
    """Router logits (B, L, E) of the routing MoE FFNs under ``module``, by module name."""
    return {
        n: m.routing.logits
        for n, m in module.named_modules()
        if isinstance(m, MoEFFN) and m.router is not None and m.routing.logits is not None
    }
