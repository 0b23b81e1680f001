# Copyright (c) mmautomot contributors. All rights reserved.
"""Log how many bad samples the training dataset skipped (``on_bad_sample='skip'``)."""

import logging

from mmengine.hooks import Hook

from mmautomot.registry import HOOKS


@HOOKS.register_module()
class BadSampleHook(Hook):
    """At the end of every training epoch and of training, log the number of samples the training
    dataset skipped with ``on_bad_sample='skip'`` (each one is logged by token when it is skipped, see
    :mod:`mmautomot.datasets.bad_samples`). Silent when nothing was skipped.
    """

    priority = 'LOW'

    def __init__(self):
        self._reported = 0

    def _report(self, runner, when: str) -> None:
        from mmautomot.datasets.bad_samples import unwrap_dataset

        dataset = unwrap_dataset(getattr(runner.train_dataloader, 'dataset', None))
        total = getattr(dataset, 'num_skipped', 0)
        if total and (total != self._reported or when.startswith('end of epoch')):
            runner.logger.log(
                logging.WARNING,
                f'{when}: {total - self._reported} bad training samples '
                f"skipped ({total} in total so far; on_bad_sample='skip')",
            )
        self._reported = total
        runner.message_hub.update_info('bad_samples/train_count', total)

    def after_train_epoch(self, runner) -> None:
        self._report(runner, f'end of epoch {runner.epoch}')

    def after_train(self, runner) -> None:
        self._report(runner, 'end of training')
