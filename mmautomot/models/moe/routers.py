# Copyright (c) mmautomot contributors. All rights reserved.
"""Expert routers of a mixture-of-experts FFN: token level and trajectory (sample) level."""

from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

from mmautomot.registry import MODELS


class _LinearRouter(nn.Module):
    """Linear logits over experts with a learned temperature (``logits / |tau|``)."""

    def __init__(self, hidden_size: int, num_experts: int, learn_temperature: bool = True):
        super().__init__()
        self.num_experts = num_experts
        self.linear = nn.Linear(hidden_size, num_experts, bias=False)
        nn.init.trunc_normal_(self.linear.weight, std=0.02)
        self.temperature = nn.Parameter(torch.ones(1), requires_grad=learn_temperature)

    def _scale(self, logits: Tensor) -> Tensor:
        return logits / self.temperature.abs().clamp(min=1e-4).to(logits)


@MODELS.register_module()
class TokenRouter(_LinearRouter):
    """Token-level router: one routing per token (Switch / Mixtral style).

    Paper: DriveMoE (the token-level alternative to its trajectory-level skill router).

    Tensor contract: ``forward(x (B, L, C)) -> logits (B, L, E)``.

    Args:
        hidden_size (int): C.
        num_experts (int): E (routed experts, the shared one excluded).
        learn_temperature (bool): a learned temperature divides the logits. Defaults to True.
    """

    def forward(self, x: Tensor) -> Tensor:
        return self._scale(self.linear(x))


@MODELS.register_module()
class TrajectoryRouter(_LinearRouter):
    """Trajectory-level router: per-token logits averaged over the action tokens, one routing per sample.

    Paper: DriveMoE (skill-specialised action MoE; the released router averages the logits of the action
    tokens and divides them by a learned temperature).

    Tensor contract: ``forward(x (B, L, C)) -> logits (B, L, E)``, the same row repeated for every token
    of a sample (so it plugs into the same MoE FFN as :class:`TokenRouter`); ``sample_logits`` gives
    (B, E).

    Args:
        hidden_size (int): C.
        num_experts (int): E.
        num_pool_tokens (int | None): average over the LAST ``num_pool_tokens`` tokens (the action tokens
            when proprio tokens come first); None = all tokens. Defaults to None.
        learn_temperature (bool): Defaults to True.
    """

    def __init__(
        self, hidden_size: int, num_experts: int, num_pool_tokens: Optional[int] = None, learn_temperature: bool = True
    ):
        super().__init__(hidden_size, num_experts, learn_temperature)
        self.num_pool_tokens = num_pool_tokens

    def sample_logits(self, x: Tensor) -> Tensor:
        """(B, E) logits of each sample."""
        n = self.num_pool_tokens
        if n is not None and n > x.shape[1]:
            raise ValueError(f'TrajectoryRouter: num_pool_tokens={n} > sequence length {x.shape[1]}')
        pooled = x if n is None else x[:, -n:]
        return self._scale(self.linear(pooled).mean(dim=1))

    def forward(self, x: Tensor) -> Tensor:
        return self.sample_logits(x)[:, None].expand(-1, x.shape[1], -1)
