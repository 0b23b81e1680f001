# Copyright (c) mmautomot contributors. All rights reserved.
"""mmautomot registries: children of MMEngine's root registries with scope ``mmautomot``.

Every registry lazily imports the package that fills it (``locations``), so a config with
``default_scope='mmautomot'`` builds any registered component without importing it by hand.

An unknown ``type=`` raises a :class:`KeyError` that names the registry and the closest registered
names, e.g. ``'MoTLayr' is not in the mmautomot::model registry. Did you mean: 'MoTLayer'?``.
"""

import difflib
from typing import List, Optional, Type

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry as _MMEngineRegistry


class Registry(_MMEngineRegistry):
    """An MMEngine registry whose failed look-ups suggest the closest names.

    MMEngine's :meth:`Registry.get` returns ``None`` for an unknown key and the builder then
    raises a generic message. Here ``get`` raises a :class:`KeyError` naming the registry
    (``scope::name``) and up to five close matches among the names visible from this registry
    (its own and its ancestors'). ``key in registry`` keeps returning a bool.
    """

    def visible_names(self) -> List[str]:
        """Names this registry can resolve without a scope prefix (own first, then ancestors)."""
        self.import_from_location()
        names, reg = [], self
        while reg is not None:
            names.extend(k for k in reg.module_dict if k not in names)
            reg = reg.parent
        return names

    def get(self, key: str) -> Optional[Type]:
        obj = super().get(key)
        if obj is None:
            names = self.visible_names()
            close = difflib.get_close_matches(key.split('.')[-1], names, n=5, cutoff=0.5)
            hint = (
                f'Did you mean: {", ".join(repr(c) for c in close)}?'
                if close
                else f'Registered in {self.scope}::{self.name}: {", ".join(sorted(self.module_dict)) or "(none)"}.'
            )
            raise KeyError(f"'{key}' is not in the {self.scope}::{self.name} registry. {hint}")
        return obj

    def __contains__(self, key: str) -> bool:
        try:
            return self.get(key) is not None
        except KeyError:
            return False


def _child(name: str, parent: _MMEngineRegistry, locations: List[str]) -> Registry:
    return Registry(name, parent=parent, scope='mmautomot', locations=locations)


RUNNERS = _child('runner', MMENGINE_RUNNERS, ['mmautomot.engine'])
RUNNER_CONSTRUCTORS = _child('runner constructor', MMENGINE_RUNNER_CONSTRUCTORS, ['mmautomot.engine'])
LOOPS = _child('loop', MMENGINE_LOOPS, ['mmautomot.engine'])
HOOKS = _child('hook', MMENGINE_HOOKS, ['mmautomot.engine.hooks'])
DATASETS = _child('dataset', MMENGINE_DATASETS, ['mmautomot.datasets'])
DATA_SAMPLERS = _child('data sampler', MMENGINE_DATA_SAMPLERS, ['mmautomot.datasets'])
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS, ['mmautomot.datasets.transforms'])
MODELS = _child('model', MMENGINE_MODELS, ['mmautomot.models'])
MODEL_WRAPPERS = _child('model_wrapper', MMENGINE_MODEL_WRAPPERS, ['mmautomot.models'])
WEIGHT_INITIALIZERS = _child('weight initializer', MMENGINE_WEIGHT_INITIALIZERS, ['mmautomot.models'])
OPTIMIZERS = _child('optimizer', MMENGINE_OPTIMIZERS, ['mmautomot.engine'])
OPTIM_WRAPPERS = _child('optim_wrapper', MMENGINE_OPTIM_WRAPPERS, ['mmautomot.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = _child(
    'optimizer wrapper constructor', MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, ['mmautomot.engine']
)
PARAM_SCHEDULERS = _child('parameter scheduler', MMENGINE_PARAM_SCHEDULERS, ['mmautomot.engine'])
METRICS = _child('metric', MMENGINE_METRICS, ['mmautomot.evaluation'])
EVALUATOR = _child('evaluator', MMENGINE_EVALUATOR, ['mmautomot.evaluation'])
TASK_UTILS = _child('task util', MMENGINE_TASK_UTILS, ['mmautomot.models'])
VISUALIZERS = _child('visualizer', MMENGINE_VISUALIZERS, ['mmautomot.visualization'])
VISBACKENDS = _child('vis_backend', MMENGINE_VISBACKENDS, ['mmautomot.visualization'])
LOG_PROCESSORS = _child('log_processor', MMENGINE_LOG_PROCESSORS, ['mmautomot.engine'])
INFERENCERS = _child('inferencer', MMENGINE_INFERENCERS, ['mmautomot.apis'])
FUNCTIONS = _child('function', MMENGINE_FUNCTIONS, ['mmautomot.datasets', 'mmautomot.models'])
