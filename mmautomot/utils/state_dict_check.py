# Copyright (c) mmautomot contributors. All rights reserved.
"""Check that a checkpoint's state dict fits a model before it is loaded.

MMEngine's ``Runner.load_checkpoint`` (``load_from``, ``--resume``) loads with ``strict=False`` and only
logs missing / unexpected / shape-mismatched keys, so a foreign checkpoint silently gives a model with
random weights. :func:`check_state_dict_fits` lists every problem and raises
:class:`CheckpointMismatchError`; it is used by :func:`mmautomot.apis.init_model` and by
:class:`mmautomot.engine.hooks.CheckpointCheckHook` (testing and resuming, ``load_from``).

Problems:

* missing keys (model keys absent from the checkpoint; a key tied to a loaded one, e.g.
  ``lm_head.weight`` = ``embed_tokens.weight``, counts as loaded);
* unexpected keys (checkpoint keys the model does not have);
* shape mismatches (both shapes named);
* dtype mismatches: a checkpoint tensor whose dtype kind (floating point, complex, integer, bool)
  differs from the model's, e.g. integer weights for a float parameter. These are always refused,
  also in a partial load (``copy_`` would silently convert them).
"""

import re
from typing import Dict, List, Mapping, Sequence, Tuple

import torch
from torch import nn

__all__ = ['CheckpointMismatchError', 'StateDictReport', 'check_state_dict_fits', 'dtype_kind', 'strip_prefixes']


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's state dict does not fit the model (the message lists every problem)."""


def dtype_kind(dtype: torch.dtype) -> str:
    """'float', 'complex', 'bool' or 'int' for a torch dtype."""
    if dtype.is_complex:
        return 'complex'
    if dtype.is_floating_point:
        return 'float'
    if dtype == torch.bool:
        return 'bool'
    return 'int'


def strip_prefixes(
    state_dict: Mapping[str, object], revise_keys: Sequence[Tuple[str, str]] = ((r'^module\.', ''),)
) -> Dict[str, object]:
    """Apply ``(pattern, replacement)`` regex substitutions to every key (MMEngine's ``revise_keys``)."""
    out = dict(state_dict)
    for pattern, repl in revise_keys:
        out = {re.sub(pattern, repl, k): v for k, v in out.items()}
    return out


class StateDictReport:
    """The problems found by :func:`check_state_dict_fits` (lists of key names / descriptions)."""

    def __init__(self, missing: List[str], unexpected: List[str], shape: List[str], dtype: List[str]):
        self.missing, self.unexpected, self.shape, self.dtype = missing, unexpected, shape, dtype

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.shape or self.dtype)

    def describe(self, max_listed: int = 20) -> str:
        parts = []
        for title, items in (
            ('missing keys (in the model, not in the checkpoint)', self.missing),
            ('unexpected keys (in the checkpoint, not in the model)', self.unexpected),
            ('shape mismatches', self.shape),
            ('dtype mismatches', self.dtype),
        ):
            if items:
                shown = ', '.join(items[:max_listed])
                more = f', ... ({len(items) - max_listed} more)' if len(items) > max_listed else ''
                parts.append(f'{len(items)} {title}: {shown}{more}')
        return '; '.join(parts)


def check_state_dict_fits(
    model: nn.Module, state_dict: Mapping[str, object], source: str, strict: bool = True, what: str = 'load'
) -> StateDictReport:
    """Compare ``state_dict`` with ``model.state_dict()``; raise when it does not fit.

    Args:
        model (nn.Module): The (unwrapped) model.
        state_dict (Mapping[str, Tensor]): The checkpoint's state dict (prefixes already revised).
        source (str): The checkpoint's name for the error message (file or URL).
        strict (bool): Raise on missing / unexpected / shape-mismatched keys. dtype mismatches
            always raise. Defaults to True.
        what (str): The operation for the message ('init_model', 'resume', 'test' ...).

    Returns:
        StateDictReport: What was found (empty when everything fits).

    Raises:
        CheckpointMismatchError: listing every problem, the checkpoint and how to load partially.
    """
    own = model.state_dict()
    loaded_ptrs = {own[k].data_ptr() for k in state_dict if k in own and own[k].numel()}
    missing = [k for k in own if k not in state_dict and not (own[k].numel() and own[k].data_ptr() in loaded_ptrs)]
    unexpected = [k for k in state_dict if k not in own]
    shape, dtype = [], []
    for key, value in state_dict.items():
        if key not in own or not isinstance(value, torch.Tensor):
            continue
        target = own[key]
        if tuple(value.shape) != tuple(target.shape):
            shape.append(f'{key}: checkpoint {tuple(value.shape)} vs model {tuple(target.shape)}')
        elif dtype_kind(value.dtype) != dtype_kind(target.dtype):
            dtype.append(f'{key}: checkpoint {value.dtype} vs model {target.dtype}')
    report = StateDictReport(missing, unexpected, shape, dtype)
    if report.dtype or (strict and not report.ok):
        keyed = report.missing or report.unexpected or report.shape
        hint = (
            ''
            if not (strict and keyed)
            else ' A partial load of pretrained parts is an explicit option: `load_from` with '
            '`default_hooks.checkpoint_check.partial_load_from=True` (training), '
            '`init_model(..., strict=False)` (see docs/contracts.md, Checkpoints).'
        )
        raise CheckpointMismatchError(
            f'{what}: checkpoint {source!r} does not fit the model {type(model).__name__}: {report.describe()}.{hint}'
        )
    return report
