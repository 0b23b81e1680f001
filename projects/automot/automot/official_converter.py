# Copyright (c) mmautomot contributors. All rights reserved.
"""Map a released AutoMoT checkpoint (OscarHuangWind/AutoMoT) to mmautomot's AutoMoT state dict.

The released model (``automot.py`` + ``qwen3vl_navit.py``) keeps Bagel-style twins in every decoder layer:
``language_model.model.layers.{i}.*_mot_gen`` are the action expert (AE) of the released padded layout
(:class:`mmautomot.models.mot.PaddedActionExpertLayer`); the plain names are the Qwen3-VL understanding
expert (UE); ``vision_model.*`` is the Qwen3-VL ViT. ``lm_head`` is tied to the embeddings and absent.
:data:`RULES` lists every mapping; keys the released forward never reads (:data:`UNUSED`) are dropped with a
note; any other key is *unmapped* and reported.

Weights load with :func:`load_released_weights` (safetensors; no pickle) or, after conversion to ``.pth``,
with mmengine's ``load_from``.
"""

import glob
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

_L = r'^language_model\.model\.layers\.(\d+)\.'
_UE_LAYER_PARTS = (
    r'self_attn\.[qkvo]_proj\.(?:weight|bias)|self_attn\.[qk]_norm\.weight|'
    r'(?:input|post_attention)_layernorm\.weight|mlp\.(?:gate|up|down)_proj\.weight'
)

#: (released key pattern, mmautomot key template), tried in order.
RULES: List[Tuple[str, str]] = [
    # action expert (the *_mot_gen twins)
    (_L + r'self_attn\.([qkvo])_proj_mot_gen\.(weight|bias)$', r'mot.ae_layers.\1.self_attn.\2_proj.\3'),
    (_L + r'self_attn\.([qk])_norm_mot_gen\.weight$', r'mot.ae_layers.\1.self_attn.\2_norm.weight'),
    (_L + r'(input|post_attention)_layernorm_mot_gen\.weight$', r'mot.ae_layers.\1.\2_layernorm.weight'),
    (_L + r'mlp_mot_gen\.(gate|up|down)_proj\.weight$', r'mot.ae_layers.\1.mlp.\2_proj.weight'),
    (r'^language_model\.model\.norm_mot_gen\.weight$', r'mot.ae_norm.weight'),
    # understanding expert: transformers' Qwen3-VL text model and ViT
    (_L + '(' + _UE_LAYER_PARTS + r')$', r'mot.ue.hf.model.language_model.layers.\1.\2'),
    (r'^language_model\.model\.(embed_tokens\.weight|norm\.weight)$', r'mot.ue.hf.model.language_model.\1'),
    (r'^vision_model\.(.+)$', r'mot.ue.hf.model.visual.\1'),
    # AE input tokens (ReleasedActionTokens)
    (r'^bev_encoder_proj\.(weight|bias)$', r'tokens.bev_proj.\1'),
    (r'^target_point_encoder\.mlp\.([024])\.(weight|bias)$', r'tokens.target_point_encoder.\1.\2'),
    (r'^velocity_encoder\.([024])\.(weight|bias)$', r'tokens.velocity_encoder.\1.\2'),
    (r'^(reasoning|route|waypoint)_queries\.weight$', r'tokens.\1_queries.weight'),
    (r'^(reasoning|route|waypoint)_projector\.(fc[12])\.(weight|bias)$', r'tokens.\1_projector.\2.\3'),
    # heads
    (r'^route_head\.mlp\.([024])\.(weight|bias)$', r'path_head.mlp.\1.\2'),
    (r'^waypoints_head\.mlp\.([024])\.(weight|bias)$', r'traj_head.mlp.\1.\2'),
    (r'^velocity_head\.([02])\.(weight|bias)$', r'velocity_head.mlp.\1.\2'),
]

#: released keys that its forward never reads: (pattern, reason).
UNUSED: List[Tuple[str, str]] = [
    (
        r'^(route_head|waypoints_head)\.query$',
        'learned queries built by the head but never used (the *_queries embeddings are)',
    ),
    (r'^language_model\.lm_head\.weight$', 'tied to language_model.model.embed_tokens.weight'),
]

TIED = ('mot.ue.hf.lm_head.weight', 'mot.ue.hf.model.language_model.embed_tokens.weight')


def map_key(key: str) -> Optional[str]:
    """The mmautomot key of a released key, or None when no rule matches."""
    for pattern, template in RULES:
        if re.match(pattern, key):
            return re.sub(pattern, template, key)
    return None


def convert_state_dict(src: Dict[str, Tensor]) -> Tuple[Dict[str, Tensor], List[str], Dict[str, str]]:
    """Rename a released state dict.

    Returns:
        tuple: (converted dict, unmapped released keys, dropped released keys -> reason).
    """
    out, unmapped, dropped = {}, [], {}
    for key, value in src.items():
        new = map_key(key)
        if new is None:
            reason = next((r for p, r in UNUSED if re.match(p, key)), None)
            if reason is None:
                unmapped.append(key)
            else:
                dropped[key] = reason
            continue
        if new in out:
            raise KeyError(f'convert_state_dict: {key!r} maps to {new!r}, which another key already filled')
        out[new] = value
    return out, sorted(unmapped), dropped


def find_checkpoint_files(src: str, file: Optional[str] = None) -> List[str]:
    """The safetensors file(s) of a released checkpoint: ``src`` itself if a file; in a folder ``file`` if
    given, else ``ema.safetensors`` (the EMA weights Bagel-style trainers save), else ``model.safetensors``,
    else every ``*.safetensors`` (shards)."""
    if osp.isfile(src):
        paths = [src]
    elif not osp.isdir(src):
        raise FileNotFoundError(f'released AutoMoT checkpoint {src!r} does not exist')
    elif file is not None:
        paths = [osp.join(src, file)]
    else:
        paths = next(
            ([osp.join(src, n)] for n in ('ema.safetensors', 'model.safetensors') if osp.isfile(osp.join(src, n))),
            sorted(glob.glob(osp.join(src, '*.safetensors'))),
        )
    if not paths or not all(osp.isfile(p) for p in paths):
        raise FileNotFoundError(
            f'no safetensors checkpoint in {src!r} (file={file!r}); pickled .pt/.bin files '
            'are not read (convert them to safetensors in a trusted environment first)'
        )
    bad = [p for p in paths if not p.endswith('.safetensors')]
    if bad:
        raise ValueError(f'only .safetensors checkpoints are read, got {bad}')
    return paths


def read_released(src: str, file: Optional[str] = None) -> Dict[str, Tensor]:
    """Read every tensor of the released checkpoint (see :func:`find_checkpoint_files`)."""
    from safetensors.torch import load_file

    state = {}
    for path in find_checkpoint_files(src, file):
        part = load_file(path)
        dup = set(part) & set(state)
        if dup:
            raise KeyError(f'{path}: keys {sorted(dup)[:5]} also in another shard')
        state.update(part)
    return state


def check_against_model(converted: Dict[str, Tensor], model: torch.nn.Module) -> Tuple[List[str], List[str]]:
    """Compare with a model's state dict (e.g. built on the meta device from a config).

    Returns:
        tuple: (model keys the checkpoint does not fill, excluding the tied lm_head; messages for keys
        absent from the model or of another shape).
    """
    target = {k: v.shape for k, v in model.state_dict().items()}
    problems = []
    for k, v in converted.items():
        if k not in target:
            problems.append(f'{k}: not a parameter of {type(model).__name__}')
        elif tuple(v.shape) != tuple(target[k]):
            problems.append(f'{k}: checkpoint shape {tuple(v.shape)} != model shape {tuple(target[k])}')
    missing = sorted(k for k in target if k not in converted and k != TIED[0])
    return missing, problems


def load_released_weights(
    model: torch.nn.Module,
    path: str,
    strict_prefixes: Tuple[str, ...] = ('mot.', 'tokens.', 'path_head.', 'traj_head.', 'velocity_head.'),
) -> List[str]:
    """Load a converted (or released) safetensors checkpoint into an AutoMoT in the released layout.

    Released keys are converted on the fly; the tied ``lm_head`` is re-tied to the loaded embeddings. Every
    model parameter under ``strict_prefixes`` must be filled (the BEV encoder is trained separately in the
    released code and may stay missing).

    Returns:
        list[str]: model keys left at their initial values.

    Raises:
        KeyError: unmapped keys, keys the model lacks, shape mismatches or missing strict keys, all named.
    """
    from safetensors.torch import load_file

    state = load_file(path)
    if any(map_key(k) is not None for k in state):  # a released checkpoint: convert it here
        state, unmapped, _ = convert_state_dict(state)
        if unmapped:
            raise KeyError(f'{path}: released keys without a mapping: {unmapped}')
    missing, problems = check_against_model(state, model)
    strict_missing = [k for k in missing if k.startswith(strict_prefixes)]
    if problems or strict_missing:
        raise KeyError(
            f'{path}: cannot load into {type(model).__name__}: '
            + '; '.join(problems + [f'missing {k}' for k in strict_missing])
        )
    model.load_state_dict(state, strict=False)
    core = model.mot.ue.core
    core.lm_head.weight = core.get_input_embeddings().weight  # keep the tie after loading
    return missing
