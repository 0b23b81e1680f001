# Copyright (c) mmautomot contributors. All rights reserved.
"""Draw planning samples during validation and testing through the runner's visualizer."""

import os
import os.path as osp
import re
from typing import Any, Optional, Sequence

from mmengine.hooks import Hook

from mmautomot.registry import HOOKS
from mmautomot.visualization import DrivingLocalVisualizer, sample_get


def safe_name(token: Any, fallback: str) -> str:
    """A file-name-safe form of a sample token (``fallback`` when the token is empty)."""
    name = re.sub(r'[^A-Za-z0-9_.-]+', '_', str(token)) if token not in (None, '') else ''
    return name or fallback


@HOOKS.register_module()
class PlanningVisualizationHook(Hook):
    """Send BEV + front-camera planning plots to the visualizer's backends (TensorBoard, files, W&B).

    As mmdet3d's ``Det3DVisualizationHook``: in validation (``draw=True``) the first ``max_samples`` samples of
    every validation run go to ``runner.visualizer.add_datasample`` under ``val_<token>`` at the current
    training iteration, so TensorBoard shows how the plans evolve; in testing they go under ``test_<token>``,
    and with ``show_dir`` (``tools/test.py --show-dir DIR``) each is written to ``DIR/<token>.png`` instead.
    The runner's visualizer must be a :class:`~mmautomot.visualization.DrivingLocalVisualizer` (the default in
    ``configs/_base_/default_runtime.py``).

    Args:
        draw (bool): draw validation / test samples to the backends. Defaults to True.
        show_dir (str, optional): in testing, write PNG files here instead. Defaults to None.
        max_samples (int): samples drawn per validation / test run and process. Defaults to 8.
        interval (int): draw every ``interval``-th iteration's batch. Defaults to 1.
    """

    priority = 'LOW'

    def __init__(
        self, draw: bool = True, show_dir: Optional[str] = None, max_samples: int = 8, interval: int = 1
    ) -> None:
        if max_samples < 0 or interval < 1:
            raise ValueError(f'max_samples must be >= 0 and interval >= 1, got {max_samples}, {interval}')
        self.draw = draw
        self.show_dir = show_dir
        self.max_samples = max_samples
        self.interval = interval
        self.num_drawn = 0

    def _reset(self, runner) -> None:
        self.num_drawn = 0

    before_val = before_test = _reset

    def _visualizer(self, runner) -> DrivingLocalVisualizer:
        vis = runner.visualizer
        if not isinstance(vis, DrivingLocalVisualizer):
            raise TypeError(
                f'PlanningVisualizationHook needs visualizer=dict(type="DrivingLocalVisualizer", ...) '
                f'in the config, got {type(vis).__name__}'
            )
        return vis

    def _draw_batch(
        self,
        runner,
        mode: str,
        batch_idx: int,
        data_batch: Any,
        outputs: Optional[Sequence],
        out_dir: Optional[str],
        step: int,
    ) -> None:
        if not outputs or self.num_drawn >= self.max_samples or batch_idx % self.interval:
            return
        vis = self._visualizer(runner)
        imgs = None
        if isinstance(data_batch, dict) and isinstance(data_batch.get('inputs'), dict):
            imgs = data_batch['inputs'].get('imgs')
        if out_dir is not None:
            os.makedirs(out_dir, exist_ok=True)
        for i, sample in enumerate(outputs):
            if self.num_drawn >= self.max_samples:
                break
            name = safe_name(sample_get(sample, 'token'), f'batch{batch_idx}_{i}')
            vis.add_datasample(
                f'{mode}_{name}',
                imgs[i] if imgs is not None and len(imgs) > i else None,
                sample,
                step=step,
                out_file=osp.join(out_dir, f'{name}.png') if out_dir else None,
            )
            self.num_drawn += 1

    def after_val_iter(
        self, runner, batch_idx: int, data_batch: Any = None, outputs: Optional[Sequence] = None
    ) -> None:
        if self.draw:
            self._draw_batch(runner, 'val', batch_idx, data_batch, outputs, None, runner.iter)

    def after_test_iter(
        self, runner, batch_idx: int, data_batch: Any = None, outputs: Optional[Sequence] = None
    ) -> None:
        if self.draw or self.show_dir is not None:
            # the test step is the batch index: `runner.iter` would build the train loop (and its dataset)
            self._draw_batch(runner, 'test', batch_idx, data_batch, outputs, self.show_dir, batch_idx)
