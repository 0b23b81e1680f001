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

3. re-registers the ``http://`` / ``https://`` schemes with :func:`load_from_http_safe` (download
   to torch's hub cache, then the same ``weights_only`` load; MMEngine's own http loader unpickles
   with ``weights_only=False``) and points the ``torchvision://``, ``open-mmlab://`` and ``mmcls://``
   schemes, which call MMEngine's module-level ``load_from_http``, at it as well;
4. re-registers MMEngine's ``'local'`` file backend with :class:`AtomicLocalBackend`, whose
   ``put`` / ``put_text`` write a temporary file in the target folder and rename it, so a kill during
   ``runner.save_checkpoint`` (``CheckpointHook``) never leaves a partial ``iter_N.pth`` under its
   final name.

:func:`load_checkpoint_file` is the one entry point every mmautomot loader uses (``init_model``,
``Driver`` / ``serve_model.py``, ``benchmark_latency.py --checkpoint``, ``tools/test.py``,
``--resume``, ``load_from``): it enables the above itself, so a fresh process that imported only
``mmautomot.apis`` loads a ``tools/train.py`` checkpoint (``mmautomot.engine`` need not be imported).
It is also called by ``mmautomot.utils.register_all_modules``, by importing ``mmautomot.engine`` and
by ``tools/train.py`` / ``tools/test.py``. It never sets ``weights_only=False`` and never touches
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``. To trust an extra class of your own, call
:func:`register_safe_checkpoint_globals`.
"""

import json
import os
import os.path as osp
import pickle
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

import mmengine.runner.checkpoint as mme_checkpoint
import numpy as np
import torch
from mmengine.config import ConfigDict
from mmengine.dist import get_dist_info
from mmengine.fileio.backends import LocalBackend, register_backend
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = [
    'AtomicLocalBackend',
    'UnsafeCheckpointError',
    'atomic_write_bytes',
    'enable_safe_mmengine_checkpoints',
    'load_checkpoint_file',
    'load_from_http_safe',
    'load_from_local_safe',
    'load_safetensors_checkpoint',
    'register_safe_checkpoint_globals',
    'safe_checkpoint_globals',
    'safe_torch_load',
]

_ENABLED = False
_UMASK = os.umask(0)
os.umask(_UMASK)


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
    if obj is HistoryBuffer and isinstance(name, str) and name in ('min', 'max', 'current', 'mean'):
        return getattr(HistoryBuffer, name)
    raise UnsafeCheckpointError(
        f'Refusing getattr({obj!r}, {name!r}) while loading a checkpoint: only the statistics '
        'methods of mmengine HistoryBuffer (min/max/current/mean) are allowed.'
    )


def _numpy_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """Numpy objects that pickled arrays, dtypes and scalars need (numpy 1.x and 2.x names)."""
    reconstruct = np._core.multiarray._reconstruct
    scalar = np._core.multiarray.scalar
    out: List[Union[Callable, Tuple[Callable, str]]] = [
        np.ndarray,
        np.dtype,
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
        HistoryBuffer.min,
        HistoryBuffer.max,
        HistoryBuffer.current,
        HistoryBuffer.mean,
        (_history_buffer_getattr, 'builtins.getattr'),
        ConfigDict,
    ] + _numpy_globals()


def register_safe_checkpoint_globals(objs: Iterable[Union[Callable, Tuple[Callable, str]]]) -> None:
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
            f'torch said: {err}'
        ) from err


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


def load_from_http_safe(filename: str, map_location: Any = None, model_dir: Optional[str] = None) -> Any:
    """MMEngine ``CheckpointLoader`` scheme for ``http(s)://`` URLs, with the same safe load.

    The file is downloaded once into ``<torch hub dir>/checkpoints/`` (``model_dir``), on local rank
    0 first in distributed runs, then read with :func:`load_from_local_safe`: ``weights_only=True``
    and the mmautomot allow-list (MMEngine's own http loader uses ``weights_only=False``).

    Args:
        filename (str): The URL.
        map_location (str | torch.device | Callable | None): Same as :func:`torch.load`.
        model_dir (str, optional): Download folder. Defaults to torch's hub checkpoint folder.

    Returns:
        dict: The loaded checkpoint.
    """
    if model_dir is None:
        model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    name = osp.basename(urllib.parse.urlparse(filename).path) or 'checkpoint.pth'
    cached = osp.join(model_dir, name)
    rank, world_size = get_dist_info()

    def download():
        if not osp.isfile(cached):
            os.makedirs(model_dir, exist_ok=True)
            torch.hub.download_url_to_file(filename, cached, progress=False)

    if rank == 0:
        download()
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            download()
    try:
        return load_from_local_safe(cached, map_location=map_location)
    except UnsafeCheckpointError as err:
        raise UnsafeCheckpointError(f'{filename} (downloaded to {cached}): {err}') from err


def load_checkpoint_file(filename: str, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint (local path, ``.safetensors``, or URL) through the safe loaders.

    The one entry point of mmautomot's loaders; it calls :func:`enable_safe_mmengine_checkpoints`
    itself, so it works in a fresh process that imported nothing else of mmautomot.

    Args:
        filename (str): A local ``.pth`` / ``.safetensors`` / ``.safetensors.index.json`` path, or
            any scheme of MMEngine's ``CheckpointLoader`` (``http(s)://`` ...).
        map_location (str | torch.device | Callable | None): Same as :func:`torch.load`.

    Returns:
        Any: The loaded object (an MMEngine checkpoint dict or a plain state dict).
    """
    enable_safe_mmengine_checkpoints()
    return CheckpointLoader.load_checkpoint(str(filename), map_location=map_location)


def atomic_write_bytes(data: Union[bytes, str], filepath: Union[str, Path], encoding: Optional[str] = None) -> None:
    """Write ``data`` to ``filepath`` through a temporary file in the same folder and a rename.

    A process killed while writing leaves at most a ``.<name>.*.tmp`` file, never a partial file
    under ``filepath``; an exception removes the temporary file.

    Args:
        data (bytes | str): The content (``str`` is encoded with ``encoding``).
        filepath (str | Path): The final path; its folder is created if needed.
        encoding (str, optional): Encoding of a ``str`` ``data``. Defaults to 'utf-8'.
    """
    filepath = str(filepath)
    if isinstance(data, str):
        data = data.encode(encoding or 'utf-8')
    folder = osp.dirname(osp.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(filepath)}.', suffix='.tmp')
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; keep the permissions open() would give
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend whose writes are atomic (temporary file + rename).

    Registered as MMEngine's ``'local'`` backend by :func:`enable_safe_mmengine_checkpoints`, so
    ``runner.save_checkpoint`` (``CheckpointHook``), the ``last_checkpoint`` pointer and
    ``mmengine.dump`` to local paths never leave a partial file under the final name.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes atomically (see :func:`atomic_write_bytes`)."""
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        """Write text atomically (see :func:`atomic_write_bytes`)."""
        atomic_write_bytes(obj, filepath, encoding=encoding)


def enable_safe_mmengine_checkpoints() -> None:
    """Allow-list MMEngine's checkpoint contents, route loads through the safe loaders and make
    local saves atomic.

    Idempotent; see the module docstring for what exactly is allowed and why.
    """
    global _ENABLED
    if _ENABLED:
        return
    register_safe_checkpoint_globals(safe_checkpoint_globals())
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safe, force=True)
    CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), loader=load_from_http_safe, force=True)
    # torchvision:// open-mmlab:// mmcls:// resolve a URL and call this module-level name.
    mme_checkpoint.load_from_http = load_from_http_safe
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    from mmengine.fileio import io as mme_io

    for key, backend in list(mme_io.backend_instances.items()):  # drop cached plain local backends
        if type(backend) is LocalBackend:
            del mme_io.backend_instances[key]
    _ENABLED = True
