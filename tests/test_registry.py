# Copyright (c) mmautomot contributors. All rights reserved.
"""Registry behaviour: unknown types name the registry and the closest registered names."""

import pytest
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope
from torch import nn

from mmautomot.registry import MODELS, Registry

PROBES = ('RegistryProbeAlpha', 'RegistryProbeBeta')


@pytest.fixture
def probe_models():
    """Register two dummy models in the real mmautomot MODELS registry, removed afterwards."""
    classes = {name: type(name, (nn.Module,), {}) for name in PROBES}
    for cls in classes.values():
        MODELS.register_module(module=cls, force=True)
    yield classes
    for name in PROBES:
        MODELS._module_dict.pop(name, None)


def test_unknown_type_names_registry_and_close_matches(probe_models):
    with pytest.raises(KeyError) as info:
        MODELS.build(dict(type='RegistryProbeAlpah'))
    msg = str(info.value)
    assert "'RegistryProbeAlpah' is not in the mmautomot::model registry" in msg
    assert "Did you mean: 'RegistryProbeAlpha'" in msg


def test_contains_and_build_known(probe_models):
    assert 'RegistryProbeAlpha' in MODELS
    assert 'RegistryProbeGamma' not in MODELS
    model = MODELS.build(dict(type='RegistryProbeBeta'))
    assert isinstance(model, probe_models['RegistryProbeBeta'])


def test_root_registry_with_default_scope_gives_our_message(probe_models):
    """The Runner builds through mmengine's root registry with ``default_scope='mmautomot'``."""
    with DefaultScope.overwrite_default_scope('mmautomot'):
        model = ROOT_MODELS.build(dict(type='RegistryProbeAlpha'))
        assert isinstance(model, probe_models['RegistryProbeAlpha'])
        with pytest.raises(KeyError) as info:
            ROOT_MODELS.build(dict(type='RegistryProbeBta'))
    msg = str(info.value)
    assert 'mmautomot::model' in msg
    assert "'RegistryProbeBeta'" in msg


def test_scoped_key_through_root_registry(probe_models):
    """``type='mmautomot.X'`` resolves from the root without a default scope."""
    model = ROOT_MODELS.build(dict(type='mmautomot.RegistryProbeBeta'))
    assert isinstance(model, probe_models['RegistryProbeBeta'])


def test_no_close_match_lists_registered_names():
    local = Registry('toy thing', scope='mmautomot_registry_test')

    @local.register_module()
    class Apple:
        pass

    @local.register_module()
    class Banana:
        pass

    with pytest.raises(KeyError) as info:
        local.get('Zzzzqqq')
    msg = str(info.value)
    assert "'Zzzzqqq' is not in the mmautomot_registry_test::toy thing registry" in msg
    assert 'Registered in mmautomot_registry_test::toy thing: Apple, Banana.' in msg
    assert local.get('Apple') is Apple
    assert 'Banana' in local and 'Cherry' not in local
