# Copyright (c) mmautomot contributors. All rights reserved.
"""The agent core must import in CARLA's Python without torch/mmengine (the model may live in a server)."""
import subprocess
import sys


def test_closed_loop_core_imports_without_torch():
    code = ('import sys, mmautomot.closed_loop, mmautomot.structures.commands; '
            'bad = [m for m in ("torch", "mmengine", "transformers") if m in sys.modules]; '
            'assert not bad, bad')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
