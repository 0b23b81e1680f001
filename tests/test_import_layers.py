# Copyright (c) mmautomot contributors. All rights reserved.
"""Layers point one way: structures <- models/datasets/evaluation/visualization <- apis <- engine/closed_loop.

Walks the module-level imports of every file under ``mmautomot/`` (imports inside functions are on-demand and
may reach upwards only in the documented registry bootstrap, ``mmautomot.utils.setup_env``) and fails on an
import from a lower layer into a higher or sibling one, and on any import cycle between modules.
"""

import ast
import os
import os.path as osp

import pytest

PKG_ROOT = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'mmautomot')

#: rank of each top-level subpackage; a module may import only from a strictly lower rank (or its own package).
LAYERS = {
    'version': 0,
    'registry': 0,
    'utils': 0,
    'structures': 1,
    'models': 2,
    'datasets': 2,
    'evaluation': 2,
    'visualization': 2,
    'apis': 3,
    'engine': 4,
    'closed_loop': 4,
    'testing': 4,
}
#: function-level imports allowed to reach upwards (mmdet's register_all_modules pattern)
LAZY_UPWARD_OK = {'mmautomot.utils.setup_env'}


def _module_name(path):
    rel = osp.relpath(path, osp.dirname(PKG_ROOT))[:-3].replace(os.sep, '.')
    return rel[: -len('.__init__')] if rel.endswith('.__init__') else rel


def _resolve(mod, is_pkg, node):
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = mod.split('.') if is_pkg else mod.split('.')[:-1]
    if node.level:
        base = base[: len(base) - (node.level - 1)]
        prefix = '.'.join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ''
    # `from pkg import sub` may name a submodule: record both
    return [prefix] + [f'{prefix}.{a.name}' for a in node.names]


def _walk(tree, top_level_only):
    """Import nodes; with ``top_level_only`` skip those inside function bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if top_level_only and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child
            stack.append(child)


def collect_imports(top_level_only=True):
    modules, graph = set(), {}
    for root, _, files in os.walk(PKG_ROOT):
        for f in files:
            if f.endswith('.py'):
                path = osp.join(root, f)
                mod = _module_name(path)
                modules.add(mod)
                tree = ast.parse(open(path, encoding='utf-8').read(), path)
                graph[mod] = set()
                for node in _walk(tree, top_level_only):
                    graph[mod].update(
                        n
                        for n in _resolve(mod, f == '__init__.py', node)
                        if n == 'mmautomot' or n.startswith('mmautomot.')
                    )
    return modules, {m: {t for t in ts if t in modules and t != m} for m, ts in graph.items()}


def _layer(mod):
    parts = mod.split('.')
    return parts[1] if len(parts) > 1 else None


def layer_violations(graph, lazy=False):
    bad = []
    for mod, targets in graph.items():
        src = _layer(mod)
        if src is None or (lazy and mod in LAZY_UPWARD_OK):
            continue
        for t in targets:
            dst = _layer(t)
            if dst is None or dst == src:
                continue
            if src not in LAYERS or dst not in LAYERS:
                bad.append(f'{mod} -> {t}: subpackage not in LAYERS (add it)')
            elif LAYERS[dst] >= LAYERS[src]:
                bad.append(f'{mod} -> {t} ({src} may not import {dst})')
    return sorted(bad)


def find_cycle(graph):
    """One import cycle between modules (a list of names), or None."""
    state, path = {}, []

    def visit(m):
        state[m] = 1
        path.append(m)
        for t in sorted(graph.get(m, ())):
            # importing a submodule imports its parent packages first: a package -> its own child is no cycle
            if t.startswith(m + '.'):
                continue
            if state.get(t) == 1:
                return path[path.index(t) :] + [t]
            if not state.get(t):
                found = visit(t)
                if found:
                    return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if not state.get(m):
            found = visit(m)
            if found:
                return found
    return None


def test_layers_point_one_way():
    _, graph = collect_imports(top_level_only=True)
    assert layer_violations(graph) == []


def test_on_demand_imports_point_one_way_too():
    _, graph = collect_imports(top_level_only=False)
    assert layer_violations(graph, lazy=True) == []


@pytest.mark.parametrize('top_level_only', [True, False], ids=['module-level', 'with-on-demand'])
def test_no_import_cycles(top_level_only):
    _, graph = collect_imports(top_level_only=top_level_only)
    if not top_level_only:  # the registry bootstrap imports every package on demand by design
        graph = {m: ts for m, ts in graph.items() if m not in LAZY_UPWARD_OK}
    assert find_cycle(graph) is None


def test_checker_catches_the_violations_it_is_for():
    graph = {
        'mmautomot.datasets.x': {'mmautomot.closed_loop.geometry'},
        'mmautomot.visualization.bev': {'mmautomot.evaluation.functional'},
        'mmautomot.closed_loop.protocol': {'mmautomot.closed_loop.server'},
        'mmautomot.closed_loop.server': {'mmautomot.closed_loop.protocol'},
        'mmautomot.apis.driver': {'mmautomot.models.mot', 'mmautomot.structures'},
    }
    bad = layer_violations(graph)
    assert bad == [
        'mmautomot.datasets.x -> mmautomot.closed_loop.geometry (datasets may not import closed_loop)',
        'mmautomot.visualization.bev -> mmautomot.evaluation.functional (visualization may not import evaluation)',
    ]
    assert find_cycle(graph) == [
        'mmautomot.closed_loop.protocol',
        'mmautomot.closed_loop.server',
        'mmautomot.closed_loop.protocol',
    ]
    with pytest.raises(AssertionError):
        assert layer_violations({'mmautomot.newpkg.a': {'mmautomot.models.b'}}) == []
