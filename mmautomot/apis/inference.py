# Copyright (c) mmautomot contributors. All rights reserved.
"""Build a model from a config and load its weights (safetensors or a torch checkpoint)."""

import os.path as osp
from typing import Optional, Union

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmautomot.registry import MODELS
from mmautomot.utils.checkpoint_compat import load_checkpoint_file
from mmautomot.utils.state_dict_check import check_state_dict_fits, strip_prefixes

from .config_loading import load_config


def load_weights(path: str) -> dict:
    """Read a state dict from a checkpoint through the one safe loader.

    ``*.safetensors`` (or a shard index) is read as is; a torch checkpoint (``.pth``, also an http(s) URL)
    with ``weights_only=True`` and the allow-list of :mod:`mmautomot.utils.checkpoint_compat` (enabled here,
    so a fresh process loads ``tools/train.py`` checkpoints); an mmengine checkpoint's ``state_dict`` entry
    is used and a ``module.`` prefix stripped.
    """
    if '://' not in str(path) and not osp.isfile(path):
        raise FileNotFoundError(f'init_model: checkpoint {path!r} does not exist')
    ckpt = load_checkpoint_file(path, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    if not isinstance(state, dict):
        raise TypeError(f'init_model: {path!r} holds a {type(state).__name__}, not a state dict')
    return strip_prefixes(state)


def init_model(
    config: Union[str, Config], checkpoint: Optional[str] = None, device: str = 'cpu', strict: bool = True
) -> torch.nn.Module:
    """Build a model from a config file / :class:`Config` and optionally load weights.

    Args:
        config (str | Config): config path or object (``custom_imports`` are honoured).
        checkpoint (str | None): ``*.safetensors`` or a torch checkpoint (``.pth`` or an http(s) URL; read
            with ``weights_only=True`` and the allow-list, see :func:`load_weights`).
        device (str): target device. Defaults to 'cpu'.
        strict (bool): fail on missing / unexpected / shape-mismatched keys (all listed in the
            :class:`~mmautomot.utils.CheckpointMismatchError`). ``False`` loads the keys that fit (a
            partial load of pretrained parts). dtype-kind mismatches (e.g. integer tensors for float
            parameters) are refused either way. Defaults to True.

    Returns:
        nn.Module: the model in eval mode, with ``model.cfg`` set.
    """
    cfg = load_config(config) if isinstance(config, str) else config
    init_default_scope(cfg.get('default_scope', 'mmautomot'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        state = load_weights(checkpoint)
        report = check_state_dict_fits(model, state, str(checkpoint), strict=strict, what='init_model')
        skip = {s.split(':')[0] for s in report.shape}
        model.load_state_dict({k: v for k, v in state.items() if k not in skip}, strict=False)
    model.cfg = cfg
    return model.to(device).eval()
