# Copyright (c) mmautomot contributors. All rights reserved.
"""Validation / test loops that skip the bad samples of a dataset with ``on_bad_sample='skip'``.

Used together with :func:`mmautomot.datasets.skip_bad_samples_collate` (``tools/train.py`` and
``tools/test.py`` set both when a dataset has ``on_bad_sample='skip'``): each batch arrives as
``dict(batch, bad_samples)``; the good samples run through the model and the metric, the bad ones are
recorded. At the end the skipped samples (token, index, error) are logged and stored in the message hub
as ``bad_samples/val`` / ``bad_samples/test``, from where ``tools/test.py`` writes them to
``test_metrics.json`` (``skipped_samples``): testing never skips silently.
"""

import logging

from mmengine.logging import print_log
from mmengine.runner import TestLoop, ValLoop

from mmautomot.registry import LOOPS


class _SkipBadSamples:
    """Mixin: unwrap ``dict(batch, bad_samples)`` batches and record the bad samples."""

    stage = ''

    def run(self):
        self.bad_samples = []
        metrics = super().run()
        records = [b.as_dict() for b in self.bad_samples]
        self.runner.message_hub.update_info(f'bad_samples/{self.stage}', records)
        if records:
            shown = ', '.join(r['token'] for r in records[:20])
            print_log(
                f'{self.stage}: {len(records)} bad samples were skipped (not in the metrics): {shown}'
                + (' ...' if len(records) > 20 else ''),
                logger='current',
                level=logging.WARNING,
            )
        return metrics

    def run_iter(self, idx, data_batch):
        if isinstance(data_batch, dict) and set(data_batch) == {'batch', 'bad_samples'}:
            self.bad_samples.extend(data_batch['bad_samples'])
            data_batch = data_batch['batch']
            if data_batch is None:  # every sample of the batch was bad
                return
        super().run_iter(idx, data_batch)


@LOOPS.register_module()
class SkipBadSamplesValLoop(_SkipBadSamples, ValLoop):
    """:class:`mmengine.runner.ValLoop` that skips and records bad samples (see the module docstring)."""

    stage = 'val'


@LOOPS.register_module()
class SkipBadSamplesTestLoop(_SkipBadSamples, TestLoop):
    """:class:`mmengine.runner.TestLoop` that skips and records bad samples (see the module docstring)."""

    stage = 'test'
