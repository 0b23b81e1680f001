# Copyright (c) mmautomot contributors. All rights reserved.
"""Turn a training checkpoint into a release file: weights only, safetensors, sha256 in the name."""

import hashlib
import json
import os
import os.path as osp
from typing import Dict, Optional, Tuple

import torch

from .checkpoint_compat import load_from_local_safe


def release_state_dict(checkpoint: dict, name: str = 'checkpoint') -> Tuple[Dict[str, torch.Tensor], bool]:
    """The weights to publish from an MMEngine checkpoint, and whether they are the EMA weights.

    MMEngine's ``EMAHook`` swaps the averaged parameters into ``state_dict`` before saving and keeps the
    averaged model under ``ema_state_dict``; so ``state_dict`` of such a checkpoint already holds the EMA
    weights, and the ``ema_state_dict`` (``module.``-prefixed, plus a ``steps`` counter) is what confirms it.
    A plain state dict (no ``state_dict`` key, all tensors) is published as it is.
    """
    if 'state_dict' in checkpoint:
        state = checkpoint['state_dict']
    elif checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        state = checkpoint
    else:
        raise ValueError(f'{name}: no "state_dict" and not a plain state dict (keys: {sorted(checkpoint)[:10]})')
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f'{name}: non-tensor entries in the state dict: {bad[:10]}')
    ema = isinstance(checkpoint.get('ema_state_dict'), dict)
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}, ema


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def publish_checkpoint(src: str, out: str, metadata: Optional[Dict[str, str]] = None) -> Dict[str, object]:
    """Write ``<out without .safetensors>-<sha256[:8]>.safetensors`` from a training checkpoint.

    Args:
        src (str): a ``.pth`` written by ``tools/train.py`` (loaded with the safe loader) or a safetensors file.
        out (str): output path or prefix (``work_dirs/automot_tiny.safetensors`` -> ``automot_tiny-1a2b3c4d
            .safetensors``). Its folder is created.
        metadata (dict[str, str], optional): extra safetensors metadata (e.g. the config name).

    Returns:
        dict: ``path``, ``sha256``, ``num_tensors``, ``num_params``, ``ema`` (whether EMA weights were written).
    """
    from safetensors.torch import save_file

    checkpoint = load_from_local_safe(src, map_location='cpu')
    state, ema = release_state_dict(checkpoint, src)
    # tied weights (e.g. a tied lm_head) share storage; safetensors wants one owner per storage
    seen, shared = {}, {}
    for key, tensor in state.items():
        ptr = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if ptr in seen:
            shared[key] = seen[ptr]
        else:
            seen[ptr] = key
    state = {k: v for k, v in state.items() if k not in shared}
    meta = dict(metadata or {}, format='pt', source=osp.basename(src), ema=str(ema).lower(), tied=json.dumps(shared))
    stem = out[: -len('.safetensors')] if out.endswith('.safetensors') else out
    os.makedirs(osp.dirname(osp.abspath(stem)), exist_ok=True)
    tmp = f'{stem}.tmp.safetensors'
    save_file(state, tmp, metadata=meta)
    sha = _sha256(tmp)
    path = f'{stem}-{sha[:8]}.safetensors'
    os.replace(tmp, path)
    return dict(
        path=path,
        sha256=sha,
        num_tensors=len(state) + len(shared),
        num_params=int(sum(v.numel() for v in state.values())),
        ema=ema,
    )
