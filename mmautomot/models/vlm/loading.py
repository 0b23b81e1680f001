# Copyright (c) mmautomot contributors. All rights reserved.
"""Build or load transformers' Qwen3-VL from a config dict or a local folder (no hub access)."""
import glob
import os.path as osp
from typing import Optional

import torch
from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration


def _dtype(dtype) -> Optional[torch.dtype]:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    return getattr(torch, dtype)


def load_checked_safetensors(model: torch.nn.Module, folder: str) -> None:
    """Load every ``*.safetensors`` file of ``folder`` into ``model``, checking names and shapes.

    Raises:
        FileNotFoundError: no safetensors file in the folder.
        ValueError: a parameter's shape differs (names parameter, both shapes and the file), or keys are
            missing / unexpected.
    """
    from safetensors.torch import load_file
    files = sorted(glob.glob(osp.join(folder, '*.safetensors')))
    if not files:
        raise FileNotFoundError(f'Qwen3-VL: no *.safetensors weights in {folder!r}')
    own = model.state_dict()
    seen = set()
    for f in files:
        state = load_file(f)
        for name, tensor in state.items():
            if name not in own:
                raise ValueError(f'Qwen3-VL: unexpected parameter {name!r} in {f}')
            if tuple(own[name].shape) != tuple(tensor.shape):
                raise ValueError(f'Qwen3-VL: shape mismatch for parameter {name!r}: checkpoint {f} has '
                                 f'{tuple(tensor.shape)}, the model built from the config expects '
                                 f'{tuple(own[name].shape)}')
        model.load_state_dict(state, strict=False)
        seen.update(state)
    tied = {'lm_head.weight'} if model.config.get_text_config().tie_word_embeddings or \
        getattr(model.config, 'tie_word_embeddings', False) else set()
    missing = [k for k in own if k not in seen and k not in tied]
    if missing:
        raise ValueError(f'Qwen3-VL: {len(missing)} parameters missing from {folder!r}, e.g. {missing[:3]}')


def build_qwen3vl(config: Optional[dict] = None,
                  pretrained: Optional[str] = None,
                  torch_dtype=None) -> Qwen3VLForConditionalGeneration:
    """Build transformers' ``Qwen3VLForConditionalGeneration``.

    Args:
        config (dict | None): ``Qwen3VLConfig`` keyword arguments (``text_config``, ``vision_config``,
            ``image_token_id`` ...). With ``pretrained`` it overrides the folder's config and the weights are
            loaded with a name/shape check.
        pretrained (str | None): local folder written by ``save_pretrained`` (config.json + safetensors).
            Ignored on the meta device when ``config`` is given (nothing can be loaded into meta tensors).
        torch_dtype (str | torch.dtype | None): parameter dtype, e.g. 'bfloat16'.
    """
    dtype = _dtype(torch_dtype)
    if pretrained is None:
        if config is None:
            raise ValueError('Qwen3VLUnderstandingExpert: give `config` (a Qwen3VLConfig dict) or '
                             '`pretrained` (a local folder)')
        model = Qwen3VLForConditionalGeneration(Qwen3VLConfig(**config))
        return model.to(dtype) if dtype is not None else model
    if config is not None and torch.empty(0).device.type == 'meta':
        # Built under ``with torch.device('meta')`` (parameter counting, FSDP deferred init): there is no
        # storage to load into, so the structure comes from ``config`` and the weights are not read.
        model = Qwen3VLForConditionalGeneration(Qwen3VLConfig(**config))
        return model.to(dtype) if dtype is not None else model
    if not osp.isdir(pretrained):
        raise FileNotFoundError(f'Qwen3VLUnderstandingExpert: pretrained folder {pretrained!r} does not exist '
                                '(no download is attempted; copy Qwen3-VL-4B-Instruct there first)')
    if config is not None:
        model = Qwen3VLForConditionalGeneration(Qwen3VLConfig(**config))
        load_checked_safetensors(model, pretrained)
        return model.to(dtype) if dtype is not None else model
    if not osp.isfile(osp.join(pretrained, 'config.json')):
        raise FileNotFoundError(f'Qwen3VLUnderstandingExpert: {pretrained!r} has no config.json')
    try:
        return Qwen3VLForConditionalGeneration.from_pretrained(
            pretrained, local_files_only=True, dtype=dtype)
    except (OSError, RuntimeError, ValueError) as e:
        raise type(e)(f'Qwen3VLUnderstandingExpert: loading {pretrained!r} failed: {e}') from e
