# Copyright (c) mmautomot contributors. All rights reserved.
"""Register every mmautomot module and make ``mmautomot`` the default scope."""

import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import all mmautomot modules so that their registries are filled.

    Also calls :func:`mmautomot.utils.enable_safe_mmengine_checkpoints`, so MMEngine checkpoints
    load with ``weights_only=True`` on torch >= 2.6.

    Args:
        init_default_scope (bool): Whether to set ``mmautomot`` as the default scope.
            Defaults to True.
    """
    from .checkpoint_compat import enable_safe_mmengine_checkpoints

    enable_safe_mmengine_checkpoints()
    import mmautomot.apis  # noqa: F401
    import mmautomot.datasets  # noqa: F401
    import mmautomot.engine  # noqa: F401
    import mmautomot.evaluation  # noqa: F401
    import mmautomot.models  # noqa: F401
    import mmautomot.visualization  # noqa: F401

    if init_default_scope:
        never_created = DefaultScope.get_current_instance() is None or not DefaultScope.check_instance_created(
            'mmautomot'
        )
        if never_created:
            DefaultScope.get_instance('mmautomot', scope_name='mmautomot')
            return
        current_scope = DefaultScope.get_current_instance()
        if current_scope.scope_name != 'mmautomot':
            warnings.warn(
                'The current default scope '
                f'"{current_scope.scope_name}" is not "mmautomot", '
                '`register_all_modules` will force the current '
                'default scope to be "mmautomot". If this is not '
                'expected, please set `init_default_scope=False`.'
            )
            new_instance_name = f'mmautomot-{datetime.datetime.now()}'
            DefaultScope.get_instance(new_instance_name, scope_name='mmautomot')
