# Copyright (c) mmautomot contributors. All rights reserved.
"""Build a model from a config and load its weights (safetensors or a torch checkpoint)."""
import os.path as osp
import sys
from typing import Optional, Union

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmautomot.registry import MODELS


def _repo_root_on_path() -> None:
    """Make ``projects.*`` (imported by configs' ``custom_imports``) importable from any working dir."""
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    if osp.isdir(osp.join(root, 'projects')) and root not in sys.path:
        sys.path.insert(0, root)


def load_weights(path: str) -> dict:
    """Read a state dict from ``*.safetensors`` or a torch checkpoint (``weights_only=True``; an mmengine
    checkpoint's ``state_dict`` entry is used)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'init_model: checkpoint {path!r} does not exist')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(path)
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001  (unpickling refused: name the file and the way out)
        raise RuntimeError(f'init_model: {path!r} is not loadable with weights_only=True ({e}); save the '
                           'weights as safetensors or a plain state dict') from e
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    if not isinstance(state, dict):
        raise TypeError(f'init_model: {path!r} holds a {type(state).__name__}, not a state dict')
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def init_model(config: Union[str, Config], checkpoint: Optional[str] = None, device: str = 'cpu',
               strict: bool = True) -> torch.nn.Module:
    """Build a model from a config file / :class:`Config` and optionally load weights.

    Args:
        config (str | Config): config path or object (``custom_imports`` are honoured).
        checkpoint (str | None): ``*.safetensors`` or a torch checkpoint (``.pth``; read with
            ``weights_only=True``).
        device (str): target device. Defaults to 'cpu'.
        strict (bool): fail on missing / unexpected keys (listed in the error). Defaults to True.

    Returns:
        nn.Module: the model in eval mode, with ``model.cfg`` set.
    """
    _repo_root_on_path()
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    init_default_scope(cfg.get('default_scope', 'mmautomot'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        state = load_weights(checkpoint)
        missing, unexpected = model.load_state_dict(state, strict=False)
        # tied parameters (e.g. lm_head = embed_tokens) are loaded through their twin
        own = model.state_dict()
        loaded_ptrs = {own[k].data_ptr() for k in state if k in own}
        missing = [k for k in missing if own[k].data_ptr() not in loaded_ptrs]
        if strict and (missing or unexpected):
            raise KeyError(f'init_model: {checkpoint!r} does not match the model: {len(missing)} missing '
                           f'(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})')
    model.cfg = cfg
    return model.to(device).eval()
