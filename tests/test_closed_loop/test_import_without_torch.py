# Copyright (c) mmautomot contributors. All rights reserved.
"""The agent core must import in CARLA's Python without torch/mmengine (the model may live in a server)."""

import os
import subprocess
import sys


def test_closed_loop_core_imports_without_torch():
    code = (
        'import sys, mmautomot.closed_loop, mmautomot.structures.commands; '
        'bad = [m for m in ("torch", "mmengine", "transformers") if m in sys.modules]; '
        'assert not bad, bad'
    )
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_closed_loop_modules_import_without_cycles():
    """No module of the closed-loop core imports another that imports it back (also lazy imports)."""
    import ast
    import os.path as osp

    import mmautomot.closed_loop as pkg

    root = osp.dirname(pkg.__file__)
    names = {f[:-3] for f in os.listdir(root) if f.endswith('.py') and f != '__init__.py'}
    graph = {}
    for name in names:
        tree = ast.parse(open(osp.join(root, f'{name}.py')).read())
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                deps.add(node.module.split('.')[0])
            elif isinstance(node, ast.ImportFrom) and (node.module or '').startswith('mmautomot.closed_loop.'):
                deps.add(node.module.split('.')[2])
        graph[name] = deps & names

    def visit(node, path):
        assert node not in path, f'import cycle: {" -> ".join(path + [node])}'
        for dep in graph[node]:
            visit(dep, path + [node])

    for name in sorted(names):
        visit(name, [])
