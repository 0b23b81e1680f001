# Copyright (c) mmautomot contributors. All rights reserved.
"""Read pickle files (info pkls, dumped planning results) without running code.

``pickle.load`` (and ``mmengine.load`` of a ``.pkl``) calls any importable function a file names, so
a crafted info pkl or results file runs code. :class:`RestrictedUnpickler` resolves only an
allow-list of globals, which is all that mmdet3d-style infos and planning results hold:

* builtins containers and scalars (``dict``, ``list``, ``tuple``, ``set``, ``frozenset``, ``int``,
  ``float``, ``complex``, ``bool``, ``str``, ``bytes``, ``bytearray``, ``slice``, ``range``) and
  ``collections.OrderedDict`` / ``defaultdict``;
* ``_codecs.encode`` (protocol-2 pickles, e.g. ``mmengine.dump``, write ``bytes`` through it);
* numpy arrays, dtypes and scalars: ``numpy.ndarray``, ``numpy.dtype`` and its concrete classes
  (``numpy.dtypes.*``), ``numpy.core.multiarray._reconstruct`` / ``scalar`` and
  ``numpy.core.numeric._frombuffer`` (numpy 1.x ``numpy.core`` and 2.x ``numpy._core`` names).

Anything else raises :class:`UnsafePickleError` naming the file and the refused ``module.name``.
"""

import _compat_pickle
import collections
import pickle
from typing import Any, Callable, Dict, Tuple

import numpy as np

__all__ = ['RestrictedUnpickler', 'UnsafePickleError', 'load_pickle_safe', 'safe_pickle_globals']


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle file names a global outside the allow-list."""


def safe_pickle_globals() -> Dict[Tuple[str, str], Callable]:
    """The allow-list: ``(module, name)`` as written in the pickle -> the object it resolves to."""
    import _codecs

    import numpy.dtypes

    out: Dict[Tuple[str, str], Any] = {
        ('builtins', t.__name__): t
        for t in (dict, list, tuple, set, frozenset, int, float, complex, bool, str, bytes, bytearray, slice, range)
    }
    out[('collections', 'OrderedDict')] = collections.OrderedDict
    out[('collections', 'defaultdict')] = collections.defaultdict
    out[('_codecs', 'encode')] = _codecs.encode
    for core in ('numpy.core', 'numpy._core'):
        out[(f'{core}.multiarray', '_reconstruct')] = np._core.multiarray._reconstruct
        out[(f'{core}.multiarray', 'scalar')] = np._core.multiarray.scalar
        out[(f'{core}.numeric', '_frombuffer')] = np._core.numeric._frombuffer
    out[('numpy', 'ndarray')] = np.ndarray
    out[('numpy', 'dtype')] = np.dtype
    for name in dir(numpy.dtypes):
        cls = getattr(numpy.dtypes, name)
        if isinstance(cls, type) and issubclass(cls, np.dtype):
            out[('numpy.dtypes', name)] = cls
    return out


_ALLOWED = None


class RestrictedUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that only resolves :func:`safe_pickle_globals`.

    Args:
        file: A binary file object.
        name (str): How to call the file in errors. Defaults to '<pickle>'.
    """

    def __init__(self, file, name: str = '<pickle>'):
        super().__init__(file)
        self.name = name

    def find_class(self, module: str, name: str) -> Any:
        global _ALLOWED
        if _ALLOWED is None:
            _ALLOWED = safe_pickle_globals()
        if (module, name) in _compat_pickle.NAME_MAPPING:  # protocol < 3 (Python 2) names
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise UnsafePickleError(
                f"Refusing to unpickle '{module}.{name}' from {self.name}: pickle files are read with "
                'an allow-list (builtins containers and scalars, numpy arrays/dtypes/scalars; see '
                'mmautomot.utils.safe_pickle) so that a crafted file cannot run code.'
            )
        return obj

    def persistent_load(self, pid):
        raise UnsafePickleError(f'Refusing a persistent id in {self.name}: not a plain data pickle.')


def load_pickle_safe(path: str) -> Any:
    """Load a pickle file with :class:`RestrictedUnpickler`.

    Args:
        path (str): The file.

    Returns:
        Any: The unpickled data (containers, scalars, numpy arrays).

    Raises:
        UnsafePickleError: The file names a global outside the allow-list (file and class named).
    """
    with open(path, 'rb') as f:
        return RestrictedUnpickler(f, name=repr(str(path))).load()
