# Copyright (c) mmautomot contributors. All rights reserved.
"""Load the LiDAR branch of an mmdet3d detector checkpoint into mmautomot modules (safe loader only)."""

from typing import Dict, Mapping, Optional, Sequence

import torch
from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn

from mmautomot.utils.checkpoint_compat import enable_safe_mmengine_checkpoints

#: Prefix of the LiDAR branch in the state dicts of mmdet3d detectors: ``VoxelNet`` / ``CenterPoint``-style
#: single-modality detectors name it ``voxel_encoder.``, ``backbone.``, ``neck.``; the multi-modality
#: ``MVXTwoStageDetector`` family (``MVXFasterRCNN``, ``CenterPoint``) ``pts_voxel_encoder.``, ...
DETECTOR_PREFIXES = ('', 'pts_')


def read_state_dict(checkpoint: str) -> Dict[str, torch.Tensor]:
    """Read a checkpoint's state dict through mmautomot's safe loader.

    mmengine's :class:`CheckpointLoader` is routed to
    :func:`mmautomot.utils.checkpoint_compat.load_from_local_safe` (``weights_only=True`` with the
    MMEngine allow-list; ``.safetensors`` read as plain tensors), so a checkpoint holding other pickled
    objects is refused with :class:`~mmautomot.utils.checkpoint_compat.UnsafeCheckpointError`.

    Args:
        checkpoint (str): path of an mmdet3d/mmengine ``.pth`` (``dict(state_dict=..., meta=...)`` or a bare
            state dict) or a ``.safetensors`` file.

    Returns:
        dict[str, Tensor]: the state dict (a leading ``module.`` of DDP checkpoints removed).
    """
    enable_safe_mmengine_checkpoints()
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, Mapping) else None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f'{checkpoint!r} holds no state dict of tensors (got {type(ckpt).__name__})')
    return {(k[7:] if k.startswith('module.') else k): v for k, v in state.items()}


def detect_prefix(state: Mapping[str, torch.Tensor], names: Sequence[str], checkpoint: str) -> str:
    """The detector prefix (:data:`DETECTOR_PREFIXES`) under which ``state`` holds ``names[0]``."""
    found = [p for p in DETECTOR_PREFIXES if any(k.startswith(f'{p}{names[0]}.') for k in state)]
    if len(found) != 1:
        tops = sorted({k.split('.')[0] for k in state})
        raise KeyError(
            f'{checkpoint!r}: cannot tell the LiDAR branch prefix (looked for '
            f'{[p + names[0] + "." for p in DETECTOR_PREFIXES]}, found {found}); its top-level '
            f'modules are {tops}. Give prefix= explicitly.'
        )
    return found[0]


def load_detector_branch(
    modules: Mapping[str, nn.Module],
    checkpoint: str,
    prefix: Optional[str] = 'auto',
    key_map: Optional[Mapping[str, str]] = None,
) -> Dict[str, list]:
    """Copy an mmdet3d detector's LiDAR-branch weights into ``modules``, strictly.

    Every parameter and buffer of each module must be in the checkpoint with the same shape, and the
    checkpoint may hold nothing else under the module's source prefix (an architecture mismatch is an error,
    never a partial load). Keys of other detector parts (heads, image branch) are ignored.

    Args:
        modules (Mapping[str, nn.Module]): our module name -> module, e.g.
            ``dict(voxel_encoder=..., backbone=..., neck=...)``.
        checkpoint (str): checkpoint path, read by :func:`read_state_dict`.
        prefix (str | None): detector prefix put before each module name: ``''`` (``VoxelNet``),
            ``'pts_'`` (``MVXFasterRCNN``, ``CenterPoint``) or ``'auto'`` to detect it. Ignored for the
            names given in ``key_map``. Defaults to ``'auto'``.
        key_map (Mapping[str, str], optional): our module name -> its full source prefix in the
            checkpoint (without the trailing dot), e.g. ``dict(backbone='img_backbone')``.

    Returns:
        dict: ``loaded`` (our keys copied) and ``ignored`` (checkpoint keys outside the mapped prefixes).

    Raises:
        KeyError: missing or unexpected keys (names the checkpoint, the module and the keys).
        ValueError: shape mismatches (names the keys and both shapes).
    """
    state = read_state_dict(checkpoint)
    key_map = dict(key_map or {})
    unknown = [k for k in key_map if k not in modules]
    if unknown:
        raise KeyError(f'key_map names {unknown}, not modules of the encoder {list(modules)}')
    auto = [n for n in modules if n not in key_map]
    if auto:
        if prefix == 'auto':
            prefix = detect_prefix(state, auto, checkpoint)
        key_map.update({n: f'{prefix or ""}{n}' for n in auto})
    loaded, used = [], set()
    for name, module in modules.items():
        src = key_map[name] + '.'
        ours = module.state_dict()
        theirs = {k[len(src) :]: v for k, v in state.items() if k.startswith(src)}
        missing = [k for k in ours if k not in theirs]
        unexpected = [k for k in theirs if k not in ours]
        if missing or unexpected:
            raise KeyError(
                f'{checkpoint!r} does not match {name} (source prefix {src!r}): missing '
                f'{missing[:8]}{" ..." if len(missing) > 8 else ""} ({len(missing)}), unexpected '
                f'{unexpected[:8]}{" ..." if len(unexpected) > 8 else ""} ({len(unexpected)})'
            )
        bad = [
            f'{src}{k}: checkpoint {tuple(theirs[k].shape)} vs encoder {tuple(v.shape)}'
            for k, v in ours.items()
            if theirs[k].shape != v.shape
        ]
        if bad:
            raise ValueError(f'{checkpoint!r} does not match {name}: shape mismatch {bad}')
        module.load_state_dict(theirs, strict=True)
        loaded += [f'{name}.{k}' for k in ours]
        used.update(src + k for k in theirs)
    return dict(loaded=loaded, ignored=sorted(k for k in state if k not in used))
