# Copyright (c) mmautomot contributors. All rights reserved.
"""The ``on_bad_sample`` policy of the datasets: ``'raise'`` (default) or ``'skip'``.

A single bad sample (a NaN LiDAR point, an empty LiDAR file, a corrupt JPEG ...) makes the loading
transforms raise a clear error naming the sample and the file. With ``on_bad_sample='raise'`` that ends
the run. With ``'skip'``:

* training: the sample is logged (``WARNING``, its token and the error) and MMEngine's dataset fetches
  another one instead (``max_refetch``); :class:`~mmautomot.engine.hooks.BadSampleHook` logs the count
  at the end of each epoch and of training;
* validation / testing: the dataset returns a :class:`BadSample` marker, which
  :func:`skip_bad_samples_collate` takes out of the batch and
  :class:`~mmautomot.engine.loops.SkipBadSamplesTestLoop` (``ValLoop`` likewise) records: the metric is
  computed on the remaining samples and ``tools/test.py`` lists every skipped sample (token, error) in
  ``test_metrics.json`` under ``skipped_samples``. ``tools/train.py`` / ``tools/test.py`` set the collate
  function and the loops when a dataloader's dataset has ``on_bad_sample='skip'``.
"""

import logging
import multiprocessing
from functools import partial
from typing import Callable, List, Optional, Sequence, Union

from mmengine.dataset import pseudo_collate
from mmengine.logging import print_log

from mmautomot.registry import FUNCTIONS

ON_BAD_SAMPLE = ('raise', 'skip')
#: What the loading transforms raise for bad files / contents (others are bugs and always raise).
BAD_SAMPLE_ERRORS = (OSError, ValueError, KeyError, IndexError)


class BadSample:
    """Marker returned by a test-mode dataset for a sample that failed to load.

    Args:
        token (str): The sample's token.
        index (int): Its index in the dataset.
        error (str): The error message.
    """

    def __init__(self, token: str, index: int, error: str):
        self.token, self.index, self.error = token, index, error

    def as_dict(self) -> dict:
        return dict(token=self.token, index=self.index, error=self.error)


class BadSamplePolicy:
    """Mixin for :class:`mmengine.dataset.BaseDataset` subclasses: implements ``on_bad_sample``.

    Call :meth:`_init_bad_sample_policy` in ``__init__``; :meth:`prepare_data` does the rest.
    """

    def _init_bad_sample_policy(self, on_bad_sample: str) -> None:
        if on_bad_sample not in ON_BAD_SAMPLE:
            raise ValueError(
                f'{type(self).__name__}: on_bad_sample must be one of {ON_BAD_SAMPLE}, got {on_bad_sample!r}'
            )
        self.on_bad_sample = on_bad_sample
        # shared with forked dataloader workers (env_cfg.mp_cfg.mp_start_method='fork')
        self._num_skipped = multiprocessing.Value('l', 0) if on_bad_sample == 'skip' else None

    @property
    def num_skipped(self) -> int:
        """Samples skipped so far by this dataset (all workers)."""
        return 0 if self._num_skipped is None else int(self._num_skipped.value)

    def prepare_data(self, idx: int):
        """Run the pipeline; on a bad sample with ``'skip'`` log it and return None (training: MMEngine
        fetches another sample) or a :class:`BadSample` (testing)."""
        if self.on_bad_sample == 'raise':
            return super().prepare_data(idx)
        try:
            return super().prepare_data(idx)
        except BAD_SAMPLE_ERRORS as err:
            token = self.get_data_info(idx).get('token', f'<index {idx}>')
            with self._num_skipped.get_lock():
                self._num_skipped.value += 1
            print_log(
                f"{type(self).__name__} (on_bad_sample='skip'): skipping sample {token!r} (index {idx}): "
                f'{type(err).__name__}: {err}',
                logger='current',
                level=logging.WARNING,
            )
            return BadSample(str(token), idx, f'{type(err).__name__}: {err}') if self.test_mode else None


@FUNCTIONS.register_module()
def skip_bad_samples_collate(data_batch: Sequence, collate_fn: Union[dict, Callable, None] = None) -> dict:
    """Collate the good samples of a batch and set the :class:`BadSample` markers aside.

    Args:
        data_batch (Sequence): Dataset outputs, possibly with :class:`BadSample` markers.
        collate_fn (dict | Callable | None): The collate function of the good samples (a FUNCTIONS config
            such as ``dict(type='pseudo_collate')``). Defaults to ``pseudo_collate``.

    Returns:
        dict: ``batch`` (the collated good samples, None if there are none) and ``bad_samples``
        (list of :class:`BadSample`).
    """
    if isinstance(collate_fn, dict):
        cfg = dict(collate_fn)
        fn = cfg.pop('type')
        fn = FUNCTIONS.get(fn) if isinstance(fn, str) else fn
        collate_fn = partial(fn, **cfg)
    collate_fn = collate_fn or pseudo_collate
    good = [d for d in data_batch if not isinstance(d, BadSample)]
    bad: List[BadSample] = [d for d in data_batch if isinstance(d, BadSample)]
    return dict(batch=collate_fn(good) if good else None, bad_samples=bad)


def unwrap_dataset(dataset) -> Optional[object]:
    """The innermost dataset of MMEngine dataset wrappers (``.dataset`` / ``.datasets[0]``)."""
    seen = 0
    while dataset is not None and not hasattr(dataset, 'num_skipped') and seen < 8:
        inner = getattr(dataset, 'dataset', None)
        if inner is None and getattr(dataset, 'datasets', None):
            inner = dataset.datasets[0]
        dataset, seen = inner, seen + 1
    return dataset
