# Copyright (c) mmautomot contributors. All rights reserved.
from .scene_moe_ffn import SceneContext, SceneMoEFFN, link_scene_context

__all__ = ['SceneContext', 'SceneMoEFFN', 'link_scene_context']
