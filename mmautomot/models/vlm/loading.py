# Copyright (c) mmautomot contributors. All rights reserved.
"""Build or load a transformers vision-language model from a config dict or a local folder (no hub access)."""

import glob
import json
import os.path as osp
from typing import List, Optional, Sequence

import torch


def _dtype(dtype) -> Optional[torch.dtype]:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    return getattr(torch, dtype)


def load_checked_safetensors(model: torch.nn.Module, folder: str, owner: str = 'Qwen3-VL') -> None:
    """Load every ``*.safetensors`` file of ``folder`` into ``model``, checking names and shapes.

    Raises:
        FileNotFoundError: no safetensors file in the folder.
        ValueError: a parameter's shape differs (names parameter, both shapes and the file), or keys are
            missing / unexpected.
    """
    from safetensors.torch import load_file

    files = sorted(glob.glob(osp.join(folder, '*.safetensors')))
    if not files:
        raise FileNotFoundError(f'{owner}: no *.safetensors weights in {folder!r}')
    own = model.state_dict()
    seen = set()
    for f in files:
        state = load_file(f)
        for name, tensor in state.items():
            if name not in own:
                raise ValueError(f'{owner}: unexpected parameter {name!r} in {f}')
            if tuple(own[name].shape) != tuple(tensor.shape):
                raise ValueError(
                    f'{owner}: shape mismatch for parameter {name!r}: checkpoint {f} has '
                    f'{tuple(tensor.shape)}, the model built from the config expects '
                    f'{tuple(own[name].shape)}'
                )
        model.load_state_dict(state, strict=False)
        seen.update(state)
    tied = (
        {'lm_head.weight'}
        if model.config.get_text_config().tie_word_embeddings or getattr(model.config, 'tie_word_embeddings', False)
        else set()
    )
    missing = [k for k in own if k not in seen and k not in tied]
    if missing:
        raise ValueError(f'{owner}: {len(missing)} parameters missing from {folder!r}, e.g. {missing[:3]}')


TOKENIZER_FILES = ('tokenizer.json', 'tokenizer.model', 'tokenizer_config.json', 'vocab.json')


def missing_pretrained_files(folder: str, need: Sequence[str] = ('config', 'weights')) -> List[str]:
    """Files a local ``save_pretrained`` folder lacks.

    Args:
        folder (str): the folder.
        need (Sequence[str]): any of 'config' (config.json), 'weights' (``*.safetensors``, and every shard a
            ``model.safetensors.index.json`` lists), 'processor' (preprocessor_config.json or
            processor_config.json), 'tokenizer' (one of :data:`TOKENIZER_FILES`).

    Returns:
        list[str]: descriptions of the missing files (empty when complete).
    """
    missing = []
    if 'config' in need and not osp.isfile(osp.join(folder, 'config.json')):
        missing.append('config.json')
    if 'weights' in need:
        index = osp.join(folder, 'model.safetensors.index.json')
        if osp.isfile(index):
            with open(index) as f:
                shards = sorted(set(json.load(f).get('weight_map', {}).values()))
            missing += [s for s in shards if not osp.isfile(osp.join(folder, s))]
        elif not glob.glob(osp.join(folder, '*.safetensors')):
            missing.append('model.safetensors (or sharded *.safetensors)')
    if 'processor' in need and not any(
        osp.isfile(osp.join(folder, f)) for f in ('preprocessor_config.json', 'processor_config.json')
    ):
        missing.append('preprocessor_config.json / processor_config.json')
    if 'tokenizer' in need and not any(osp.isfile(osp.join(folder, f)) for f in TOKENIZER_FILES):
        missing.append('tokenizer files (' + ' / '.join(TOKENIZER_FILES) + ')')
    return missing


def build_hf_vlm(
    model_cls,
    config_cls,
    config: Optional[dict] = None,
    pretrained: Optional[str] = None,
    torch_dtype=None,
    owner: str = 'VLM expert',
    need: Sequence[str] = ('config', 'weights'),
):
    """Build a transformers ``*ForConditionalGeneration`` from a config dict or a local folder.

    Args:
        model_cls: e.g. ``PaliGemmaForConditionalGeneration``.
        config_cls: its config class, e.g. ``PaliGemmaConfig``.
        config (dict | None): config kwargs. With ``pretrained`` it overrides the folder's config and the
            weights are loaded with a name/shape check.
        pretrained (str | None): local folder written by ``save_pretrained``. On the meta device (nothing can be
            loaded into meta tensors) only its config.json is read, and only when ``config`` is not given.
        torch_dtype (str | torch.dtype | None): parameter dtype, e.g. 'bfloat16'.
        owner (str): the expert's name for error messages.
        need (Sequence[str]): files the folder must hold (:func:`missing_pretrained_files`).

    Raises:
        FileNotFoundError: the folder does not exist or lacks files (all of them are named).
    """
    dtype = _dtype(torch_dtype)
    on_meta = torch.empty(0).device.type == 'meta'
    if on_meta and config is None and pretrained is not None and osp.isfile(osp.join(pretrained, 'config.json')):
        # structure only (e.g. a pipeline's weightless processor): the folder's config, no weights read
        model = model_cls(config_cls.from_pretrained(pretrained, local_files_only=True))
        return model.to(dtype) if dtype is not None else model
    if pretrained is None or (config is not None and on_meta):
        # Under ``with torch.device('meta')`` (parameter counting, FSDP deferred init) there is no storage to
        # load into, so the structure comes from ``config`` and the weights are not read.
        if config is None:
            raise ValueError(f'{owner}: give `config` / `preset` or `pretrained` (a local folder)')
        model = model_cls(config_cls(**config))
        return model.to(dtype) if dtype is not None else model
    if not osp.isdir(pretrained):
        raise FileNotFoundError(
            f'{owner}: pretrained folder {pretrained!r} does not exist '
            '(no download is attempted; copy the model there first)'
        )
    need = [n for n in need if not (config is not None and n == 'config')]
    missing = missing_pretrained_files(pretrained, need)
    if missing:
        raise FileNotFoundError(f'{owner}: pretrained folder {pretrained!r} lacks {missing}')
    try:
        model, info = model_cls.from_pretrained(
            pretrained,
            config=None if config is None else config_cls(**config),
            local_files_only=True,
            dtype=dtype,
            ignore_mismatched_sizes=True,
            output_loading_info=True,
        )
    except (OSError, RuntimeError, ValueError) as e:
        raise type(e)(f'{owner}: loading {pretrained!r} failed: {e}') from e
    check_loading_info(info, pretrained, owner)
    return model


def check_loading_info(info: dict, folder: str, owner: str) -> None:
    """Raise on what ``from_pretrained(..., output_loading_info=True)`` reports: mismatched shapes (names
    the parameter and both shapes), missing or unexpected parameters (tied weights are never reported)."""
    mismatched = sorted(info.get('mismatched_keys') or [], key=lambda m: m[0])
    if mismatched:
        name, ckpt_shape, own_shape = mismatched[0]
        raise ValueError(
            f'{owner}: shape mismatch for parameter {name!r}: checkpoint {folder!r} has '
            f'{tuple(ckpt_shape)}, the model built from the config expects {tuple(own_shape)} '
            f'({len(mismatched)} parameters differ)'
        )
    for kind in ('missing_keys', 'unexpected_keys'):
        keys = sorted(info.get(kind) or [])
        if keys:
            raise ValueError(
                f'{owner}: {len(keys)} {kind.replace("_keys", "")} parameters in {folder!r}, e.g. {keys[:3]}'
            )


def build_qwen3vl(config: Optional[dict] = None, pretrained: Optional[str] = None, torch_dtype=None):
    """Build transformers' ``Qwen3VLForConditionalGeneration`` (see :func:`build_hf_vlm`)."""
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    return build_hf_vlm(
        Qwen3VLForConditionalGeneration,
        Qwen3VLConfig,
        config,
        pretrained,
        torch_dtype,
        owner='Qwen3VLUnderstandingExpert',
    )
