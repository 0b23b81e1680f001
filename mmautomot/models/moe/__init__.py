# Copyright (c) mmautomot contributors. All rights reserved.
"""Mixture-of-experts parts: the MoE FFN (token / trajectory routers), the camera router and the scene-adaptive
MoE FFN (one scene router per layer)."""

from .camera_router import CameraRouter
from .moe_ffn import (
    MoEFFN,
    RoutingState,
    SwiGLU,
    load_balancing_loss,
    moe_aux_losses,
    moe_router_logits,
    share_routing,
    top_k_routing,
)
from .routers import TokenRouter, TrajectoryRouter
from .scene_moe_ffn import SceneContext, SceneMoEFFN, link_scene_context

__all__ = [
    'CameraRouter',
    'MoEFFN',
    'RoutingState',
    'SwiGLU',
    'TokenRouter',
    'TrajectoryRouter',
    'load_balancing_loss',
    'moe_aux_losses',
    'moe_router_logits',
    'share_routing',
    'top_k_routing',
    'SceneContext',
    'SceneMoEFFN',
    'link_scene_context',
]
