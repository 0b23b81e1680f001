# Copyright (c) mmautomot contributors. All rights reserved.
"""Deprecated alias: ``AsyncScheduler`` is :class:`~mmautomot.models.mot.ue_refresh.UERefreshPolicy`."""

import inspect

from mmautomot.registry import TASK_UTILS

from .ue_refresh import StaleCacheError, UERefreshPolicy, warn_renamed

__all__ = ['AsyncScheduler', 'StaleCacheError']


@TASK_UTILS.register_module()
class AsyncScheduler(UERefreshPolicy):
    """Deprecated name of :class:`UERefreshPolicy` (warns once); configs with ``type='AsyncScheduler'`` still
    build. A ``ue_fn(tick)`` of the old one-argument form is still accepted by :meth:`step`."""

    def __init__(self, *args, **kwargs):
        warn_renamed('AsyncScheduler', 'UERefreshPolicy (mmautomot/models/mot/ue_refresh.py)')
        super().__init__(*args, **kwargs)

    def step(self, ue_fn, ae_fn, tick=None):
        params = inspect.signature(ue_fn).parameters.values()
        if sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params) == 1:
            old_fn = ue_fn

            def ue_fn(t, cache):
                return old_fn(t)

        return super().step(ue_fn, ae_fn, tick)
