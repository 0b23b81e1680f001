# Copyright (c) mmautomot contributors. All rights reserved.
"""Load MMEngine checkpoints safely on torch >= 2.6 (``weights_only=True``).

MMEngine 0.10.7 calls ``torch.load`` without ``weights_only``. Since torch 2.6 that means
``weights_only=True``, and a checkpoint written by MMEngine's ``Runner`` then fails to load because
it pickles a few non-tensor objects. Saving a Runner checkpoint and listing its globals
(``torch.serialization.get_unsafe_globals_in_checkpoint``) gives exactly:

* ``mmengine.logging.history_buffer.HistoryBuffer`` (the ``message_hub`` log scalars), whose state
  holds its statistics methods, pickled as ``builtins.getattr(HistoryBuffer, 'min')`` etc.;
* ``numpy.ndarray``, ``numpy.dtype``, ``numpy._core.multiarray._reconstruct`` and
  ``numpy._core.multiarray.scalar`` (the history arrays and numpy scalars);
* ``mmengine.config.ConfigDict`` when ``dataset_meta`` / runtime info came from a config.

:func:`enable_safe_mmengine_checkpoints` is the one place where mmautomot makes such checkpoints
loadable. It

1. allow-lists exactly these objects with :func:`torch.serialization.add_safe_globals`.
   ``builtins.getattr`` is NOT allow-listed: the name is mapped to :func:`_history_buffer_getattr`,
   which only returns the registered statistics methods of ``HistoryBuffer`` and refuses anything
   else (a real ``getattr`` would let a pickle reach arbitrary code);
2. re-registers MMEngine's local-file checkpoint loader (the ``''`` scheme of
   :class:`mmengine.runner.CheckpointLoader`, used by ``load_from``, ``--resume``,
   ``init_cfg=dict(type='Pretrained')`` and :func:`mmengine.runner.load_checkpoint`) with
   :func:`load_from_local_safe`, which calls ``torch.load(..., weights_only=True)`` explicitly,
   turns a refused object into a :class:`UnsafeCheckpointError` naming the file and the offending
   globals, and reads ``.safetensors`` files (and sharded ``*.safetensors.index.json``) as plain
   state dicts.

It is called by ``mmautomot.utils.register_all_modules``, by importing ``mmautomot.engine`` (which
any Runner in the ``mmautomot`` scope does) and by ``tools/train.py`` / ``tools/test.py``. It never
sets ``weights_only=False`` and never touches ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``. To trust an
extra class of your own, call :func:`register_safe_checkpoint_globals`.
"""
import json
import os.path as osp
import pickle
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.config import ConfigDict
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = [
    'UnsafeCheckpointError', 'enable_safe_mmengine_checkpoints', 'load_from_local_safe',
    'load_safetensors_checkpoint', 'register_safe_checkpoint_globals', 'safe_checkpoint_globals',
    'safe_torch_load'
]

_ENABLED = False


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds a pickled object outside the ``weights_only`` allow-list."""


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stand-in for ``builtins.getattr`` inside ``weights_only`` unpickling.

    ``HistoryBuffer`` pickles its statistics methods (``min``, ``max``, ``current``, ``mean``) as
    ``getattr(HistoryBuffer, name)``. Only that look-up is served; everything else is refused.

    Args:
        obj (Any): The object the pickle asks an attribute of.
        name (str): The attribute name.

    Returns:
        Callable: ``HistoryBuffer.<name>``.
    """
    if obj is HistoryBuffer and isinstance(name, str) and name in ('min', 'max', 'current',
                                                                    'mean'):
        return getattr(HistoryBuffer, name)
    raise UnsafeCheckpointError(
        f'Refusing getattr({obj!r}, {name!r}) while loading a checkpoint: only the statistics '
        'methods of mmengine HistoryBuffer (min/max/current/mean) are allowed.')


def _numpy_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """Numpy objects that pickled arrays, dtypes and scalars need (numpy 1.x and 2.x names)."""
    reconstruct = np._core.multiarray._reconstruct
    scalar = np._core.multiarray.scalar
    out: List[Union[Callable, Tuple[Callable, str]]] = [
        np.ndarray, np.dtype,
        (reconstruct, 'numpy._core.multiarray._reconstruct'),
        (reconstruct, 'numpy.core.multiarray._reconstruct'),
        (scalar, 'numpy._core.multiarray.scalar'),
        (scalar, 'numpy.core.multiarray.scalar'),
    ]
    # A pickled dtype is rebuilt as ``numpy.dtype(...)`` and then BUILD on an instance of its
    # concrete class (``numpy.dtypes.Float64DType`` ...), which must be allow-listed too.
    import numpy.dtypes
    for name in dir(numpy.dtypes):
        cls = getattr(numpy.dtypes, name)
        if isinstance(cls, type) and issubclass(cls, np.dtype):
            out.append(cls)
    return out


def safe_checkpoint_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """The allow-list for MMEngine checkpoints (objects or ``(object, pickled name)`` pairs)."""
    return [
        HistoryBuffer,
        HistoryBuffer.min, HistoryBuffer.max, HistoryBuffer.current, HistoryBuffer.mean,
        (_history_buffer_getattr, 'builtins.getattr'),
        ConfigDict,
    ] + _numpy_globals()


def register_safe_checkpoint_globals(objs: Iterable[Union[Callable, Tuple[Callable, str]]]
                                     ) -> None:
    """Trust more classes/functions in ``weights_only`` checkpoint loads (process-wide).

    Args:
        objs (Iterable): Classes or functions, or ``(object, 'module.qualname')`` pairs, as
            accepted by :func:`torch.serialization.add_safe_globals`.
    """
    torch.serialization.add_safe_globals(list(objs))


def _unsafe_globals(source: Any) -> List[str]:
    """Globals in a checkpoint that the current allow-list does not cover (best effort)."""
    try:
        if hasattr(source, 'seek'):
            source.seek(0)
        names = torch.serialization.get_unsafe_globals_in_checkpoint(source)
    except Exception:  # legacy (non-zip) format or unreadable: the torch message suffices
        return []
    allowed = set(torch._weights_only_unpickler._get_user_allowed_globals())
    return [n for n in names if n not in allowed]


def safe_torch_load(source: Any, map_location: Any = None, name: Optional[str] = None) -> Any:
    """``torch.load(source, weights_only=True)`` that names the file and the refused objects.

    Args:
        source (str | file-like): A path or a binary file object.
        map_location (str | torch.device | Callable | None): Same as :func:`torch.load`.
        name (str, optional): How to call the checkpoint in errors. Defaults to ``source``.

    Returns:
        Any: The loaded object.

    Raises:
        UnsafeCheckpointError: When the checkpoint holds an object outside the allow-list.
    """
    try:
        return torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        label = name if name is not None else source
        bad = _unsafe_globals(source)
        listed = f' Objects outside the allow-list: {bad}.' if bad else ''
        raise UnsafeCheckpointError(
            f"Refusing to load checkpoint '{label}' with weights_only=True: it contains a pickled "
            f'object that is not allow-listed.{listed} MMEngine checkpoints only need '
            'HistoryBuffer, ConfigDict and numpy arrays/scalars (see '
            'mmautomot.utils.checkpoint_compat). If you trust this file, allow-list the class '
            'with mmautomot.utils.register_safe_checkpoint_globals([cls]). '
            f'torch said: {err}') from err


def load_safetensors_checkpoint(filename: str, map_location: Any = None) -> Dict[str, Any]:
    """Read a ``.safetensors`` file (or a sharded ``*.safetensors.index.json``) as a state dict.

    Args:
        filename (str): Path of a ``.safetensors`` file or of a Hugging Face shard index.
        map_location (str | torch.device | Callable | None): Where to put the tensors. A callable
            (``torch.load`` style) or None keeps them on CPU.

    Returns:
        dict[str, torch.Tensor]: The state dict.
    """
    from safetensors.torch import load_file
    device = map_location if isinstance(map_location, (str, torch.device)) else 'cpu'
    if filename.endswith('.index.json'):
        with open(filename) as f:
            weight_map = json.load(f).get('weight_map')
        if not isinstance(weight_map, dict):
            raise ValueError(f"'{filename}' has no 'weight_map' dict: not a safetensors index.")
        state_dict: Dict[str, Any] = {}
        for shard in sorted(set(weight_map.values())):
            state_dict.update(load_file(osp.join(osp.dirname(filename), shard), device=device))
        return state_dict
    return load_file(filename, device=device)


def load_from_local_safe(filename: str, map_location: Any = None) -> Any:
    """MMEngine ``CheckpointLoader`` scheme for local paths, safe on torch >= 2.6.

    ``.safetensors`` / ``.safetensors.index.json`` files are read with safetensors; anything else
    with :func:`safe_torch_load` (``weights_only=True`` and the mmautomot allow-list).

    Args:
        filename (str): Local checkpoint path (``~`` is expanded).
        map_location (str | torch.device | Callable | None): Same as :func:`torch.load`.

    Returns:
        dict: The loaded checkpoint.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    if filename.endswith(('.safetensors', '.safetensors.index.json')):
        return load_safetensors_checkpoint(filename, map_location)
    return safe_torch_load(filename, map_location=map_location)


def enable_safe_mmengine_checkpoints() -> None:
    """Allow-list MMEngine's checkpoint contents and route local loads through a safe loader.

    Idempotent; see the module docstring for what exactly is allowed and why.
    """
    global _ENABLED
    if _ENABLED:
        return
    register_safe_checkpoint_globals(safe_checkpoint_globals())
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safe, force=True)
    _ENABLED = True
