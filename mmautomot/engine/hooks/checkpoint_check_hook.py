# Copyright (c) mmautomot contributors. All rights reserved.
"""Refuse a checkpoint that does not fit the model when testing, resuming or loading (``load_from``)."""

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmautomot.registry import HOOKS
from mmautomot.utils.state_dict_check import check_state_dict_fits, strip_prefixes


@HOOKS.register_module()
class CheckpointCheckHook(Hook):
    """Make MMEngine's checkpoint loading strict: missing / unexpected / mismatched keys fail the run.

    MMEngine's ``Runner.load_checkpoint`` (``load_from``, ``--resume``, ``tools/test.py CKPT``) loads
    with ``strict=False`` and only logs a warning, so a foreign or shape-mismatched checkpoint used to be
    tested with random weights (exit 0). This hook runs in ``after_load_checkpoint`` (before MMEngine
    copies the weights) and raises :class:`~mmautomot.utils.CheckpointMismatchError` listing every
    missing, unexpected, shape-mismatched and dtype-mismatched key (:func:`check_state_dict_fits`).

    ``default_runtime.py`` adds it as ``default_hooks.checkpoint_check``; ``tools/train.py`` and
    ``tools/test.py`` add it when a config lacks it, and ``tools/test.py`` forces
    ``partial_load_from=False``.

    Args:
        partial_load_from (bool): allow a partial ``load_from`` in training (pretrained parts, e.g. a
            backbone): keys that fit are loaded and the rest is logged as a warning. A resume is always
            strict, dtype mismatches always fail. Defaults to False.
    """

    priority = 'VERY_HIGH'

    def __init__(self, partial_load_from: bool = False):
        self.partial_load_from = bool(partial_load_from)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if type(runner.model).__name__.endswith('FullyShardedDataParallel'):
            runner.logger.warning('CheckpointCheckHook: FSDP-wrapped model, the checkpoint is not checked')
            return
        state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
        if not isinstance(state, dict):
            raise TypeError(f'CheckpointCheckHook: the checkpoint holds a {type(state).__name__}, not a state dict')
        resume = bool(getattr(runner, '_resume', False))
        source = getattr(runner, '_load_from', None) or '<auto-resume checkpoint>'
        strict = resume or not self.partial_load_from
        report = check_state_dict_fits(
            model, strip_prefixes(state), str(source), strict=strict, what='resume' if resume else 'load_from'
        )
        if not report.ok:
            runner.logger.warning(
                f'CheckpointCheckHook: partial load_from of {source!r} (partial_load_from=True): {report.describe()}'
            )
