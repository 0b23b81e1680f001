# Copyright (c) mmautomot contributors. All rights reserved.
"""Mixture-of-experts parts: the MoE FFN (token / trajectory routers) and the camera router."""
from .camera_router import CameraRouter
from .moe_ffn import (MoEFFN, RoutingState, SwiGLU, load_balancing_loss, moe_aux_losses, moe_router_logits,
                      share_routing, top_k_routing)
from .routers import TokenRouter, TrajectoryRouter

__all__ = [
    'CameraRouter', 'MoEFFN', 'RoutingState', 'SwiGLU', 'TokenRouter', 'TrajectoryRouter', 'load_balancing_loss',
    'moe_aux_losses', 'moe_router_logits', 'share_routing', 'top_k_routing'
]
