# Copyright (c) mmautomot contributors. All rights reserved.
"""Scene-adaptive mixture-of-experts FFN (SA-MoE): experts soft-weighted per scene, one router per layer."""

from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmautomot.registry import MODELS


class SceneContext:
    """The scene vector of the current forward pass, shared by every SA-MoE FFN of a planner.

    Not a module (no parameters): the model computes the scene vector ONCE per sample (e.g. with a
    :class:`mmautomot.models.encoders.DeformableSceneEncoder`) and calls :meth:`set`; each layer's FFN reads
    it through its own router head. ``version`` grows at every :meth:`set`, so an FFN can keep per-sample
    merged weights for as long as the scene does not change (e.g. over all flow-matching steps).
    """

    def __init__(self):
        self.scene: Optional[Tensor] = None
        self.version = 0

    def set(self, scene: Tensor) -> None:
        """Store the (B, D_s) scene vector."""
        if scene.dim() != 2:
            raise ValueError(f'SceneContext: the scene vector must be (B, D_s), got {tuple(scene.shape)}')
        self.scene = scene
        self.version += 1

    def clear(self) -> None:
        self.scene = None
        self.version += 1


@MODELS.register_module()
class SceneMoEFFN(nn.Module):
    """SA-MoE feed-forward: ``sum_e w_e(scene) SwiGLU_e(x)`` with a per-layer linear router on the scene.

    Paper: SAMoE-VLA (You et al., "SAMoE-VLA: A Scene Adaptive Mixture-of-Experts Vision-Language-Action
    Model for Autonomous Driving"): the routing signal is a BEV scene vector computed once per sample, not
    the token embeddings; every MoE layer has its own linear router head on it (so the expert weights differ
    between layers); the experts are soft-weighted and merged per scene, not picked top-k per token.

    Routing (``routing``):

    * ``'scene'`` (SA-MoE): ``w = softmax(router(scene) / temperature)``, (B, E), one weighting per sample
      for all its tokens; the scene comes from the shared :class:`SceneContext` (``self.context``).
    * ``'token'`` (the ablation baseline): ``router(x)`` per token, softmax, top-``top_k`` renormalised
      (``top_k = num_experts`` is token-level soft routing).

    Execution (``mode``, scene routing only; ``'mix'`` and ``'merge'`` give equal outputs):

    * ``'mix'``: run each expert and sum the weighted outputs;
    * ``'merge'``: merge the experts into ONE SwiGLU per sample whose hidden layer is the concatenation of
      the experts' (``E * I`` wide) and whose down projection is ``[w_1 D_1, ..., w_E D_E]``: exactly the
      weighted sum of the experts (SwiGLU is linear in its down projection); the merged weights are kept
      until the scene changes (``SceneContext.version``), so the flow steps of one sample reuse them;
    * ``'average'`` (our alternative reading of "merged per scene", NOT equal to mixing): one I-wide SwiGLU
      whose gate/up/down weights are the ``w``-weighted averages of the experts' (SMEAR-style parameter
      merging; 1/E of the FLOPs).

    Tensor contract: ``forward(x (B, L, C)) -> (B, L, C)``; after it ``last_weights`` holds the routing,
    (B, E) for scene routing, (B, L, E) (zeros off the top-k) for token routing.

    Args:
        hidden_size (int): C.
        intermediate_size (int): SwiGLU width I of each expert.
        num_experts (int): E. Defaults to 4.
        scene_dims (int | None): D_s of the scene vector; required for scene routing.
        routing (str): 'scene' or 'token'. Defaults to 'scene'.
        mode (str): 'mix', 'merge' or 'average'. Defaults to 'mix'.
        top_k (int): experts per token in token routing. Defaults to 2.
        temperature (float): softmax temperature of the router logits. Defaults to 1.0.
    """

    def __init__(
        self,
        hidden_size: int,
        intermediate_size: int,
        num_experts: int = 4,
        scene_dims: Optional[int] = None,
        routing: str = 'scene',
        mode: str = 'mix',
        top_k: int = 2,
        temperature: float = 1.0,
    ):
        super().__init__()
        if routing not in ('scene', 'token'):
            raise ValueError(f"SceneMoEFFN: routing must be 'scene' or 'token', got {routing!r}")
        if mode not in ('mix', 'merge', 'average'):
            raise ValueError(f"SceneMoEFFN: mode must be 'mix', 'merge' or 'average', got {mode!r}")
        if routing == 'scene' and not scene_dims:
            raise ValueError('SceneMoEFFN: scene routing needs scene_dims (the scene vector width)')
        if routing == 'token' and not 1 <= top_k <= num_experts:
            raise ValueError(f'SceneMoEFFN: top_k must be in [1, {num_experts}], got {top_k}')
        if temperature <= 0:
            raise ValueError(f'SceneMoEFFN: temperature must be > 0, got {temperature}')
        self.hidden_size, self.intermediate_size, self.num_experts = hidden_size, intermediate_size, num_experts
        self.routing, self.mode, self.top_k, self.temperature = routing, mode, top_k, float(temperature)
        self.gate = nn.Parameter(torch.empty(num_experts, intermediate_size, hidden_size))
        self.up = nn.Parameter(torch.empty(num_experts, intermediate_size, hidden_size))
        self.down = nn.Parameter(torch.empty(num_experts, hidden_size, intermediate_size))
        self.router = nn.Linear(scene_dims if routing == 'scene' else hidden_size, num_experts)
        self.context = SceneContext()
        self.last_weights: Optional[Tensor] = None
        self._merged: Optional[Tuple[int, tuple]] = None
        self.reset_parameters()

    def reset_parameters(self, std: float = 0.02) -> None:
        """Normal(0, std) expert weights (as the dense action-expert FFN); default Linear init for the router."""
        for p in (self.gate, self.up, self.down):
            nn.init.normal_(p, std=std)
        self.router.reset_parameters()

    # ------------------------------------------------------------------ routing
    def scene_weights(self) -> Tensor:
        """(B, E) soft expert weights of this layer from the shared scene vector."""
        scene = self.context.scene
        if scene is None:
            raise RuntimeError('SceneMoEFFN: no scene vector; the model must call SceneContext.set(scene) first')
        return F.softmax(self.router(scene.to(self.router.weight.dtype)).float() / self.temperature, dim=-1)

    def token_weights(self, x: Tensor) -> Tensor:
        """(B, L, E) top-k renormalised weights from the tokens (zeros off the top-k)."""
        probs = F.softmax(self.router(x).float() / self.temperature, dim=-1)
        top, idx = probs.topk(self.top_k, dim=-1)
        return torch.zeros_like(probs).scatter(-1, idx, top / top.sum(-1, keepdim=True))

    # ------------------------------------------------------------------ experts
    def expert(self, e: int, x: Tensor) -> Tensor:
        """Expert ``e`` alone: ``down_e(silu(gate_e x) * up_e x)``, (B, L, C)."""
        return F.linear(F.silu(F.linear(x, self.gate[e])) * F.linear(x, self.up[e]), self.down[e])

    def _mix(self, x: Tensor, w: Tensor) -> Tensor:
        """``sum_e w_e expert_e(x)``; w (B, E) or (B, L, E)."""
        out = x.new_zeros(x.shape)
        for e in range(self.num_experts):
            we = w[..., e].to(x)
            out = out + (we[:, None, None] if we.dim() == 1 else we[..., None]) * self.expert(e, x)
        return out

    def merged_weights(self, w: Tensor) -> tuple:
        """Per-sample merged SwiGLU weights for ``mode`` 'merge' ((E*I, C), (E*I, C), (B, C, E*I)) or
        'average' ((B, I, C), (B, I, C), (B, C, I)) from scene weights ``w`` (B, E)."""
        w = w.to(self.gate.dtype)
        if self.mode == 'merge':
            n = self.num_experts * self.intermediate_size
            down = self.down.permute(1, 0, 2)[None] * w[:, None, :, None]  # (B, C, E, I)
            return (
                self.gate.reshape(n, self.hidden_size),
                self.up.reshape(n, self.hidden_size),
                down.reshape(w.shape[0], self.hidden_size, n),
            )
        return tuple(torch.einsum('be,e...->b...', w, p) for p in (self.gate, self.up, self.down))

    def _run_merged(self, x: Tensor, w: Tensor) -> Tensor:
        version = self.context.version
        if self._merged is None or self._merged[0] != version or torch.is_grad_enabled():
            self._merged = (version, self.merged_weights(w))
        gate, up, down = self._merged[1]
        if gate.dim() == 2:  # 'merge': one wide hidden layer shared by the batch, per-sample down projection
            h = F.silu(F.linear(x, gate)) * F.linear(x, up)
        elif x.shape[0] == 1:  # 'average' at batch 1: a plain FFN
            h = F.silu(F.linear(x, gate[0])) * F.linear(x, up[0])
        else:  # 'average': per-sample gate / up
            h = F.silu(torch.bmm(x, gate.transpose(1, 2))) * torch.bmm(x, up.transpose(1, 2))
        if x.shape[0] == 1:  # batch 1: the merged FFN is a plain Linear stack (row-major weights)
            return F.linear(h, down[0])
        return torch.bmm(h, down.transpose(1, 2))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.hidden_size:
            raise ValueError(f'SceneMoEFFN: input width {x.shape[-1]} != hidden_size {self.hidden_size}')
        if self.routing == 'token':
            w = self.token_weights(x)
            self.last_weights = w
            return self._mix(x, w)
        w = self.scene_weights()
        if w.shape[0] != x.shape[0]:
            raise ValueError(f'SceneMoEFFN: scene vector for {w.shape[0]} samples, input has {x.shape[0]}')
        self.last_weights = w
        if self.mode == 'mix':
            return self._mix(x, w)
        return self._run_merged(x, w)


def link_scene_context(module: nn.Module, context: Optional[SceneContext] = None) -> SceneContext:
    """Make every :class:`SceneMoEFFN` under ``module`` read the same :class:`SceneContext` (returned)."""
    context = context or SceneContext()
    for m in module.modules():
        if isinstance(m, SceneMoEFFN):
            m.context = context
    return context
