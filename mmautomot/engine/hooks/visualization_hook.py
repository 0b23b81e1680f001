# Copyright (c) mmautomot contributors. All rights reserved.
"""Write BEV and front-camera planning plots of test samples during ``runner.test()``."""
from typing import Any, Optional, Sequence

from mmengine.hooks import Hook

from mmautomot.registry import HOOKS
from mmautomot.visualization.bev import sample_get
from mmautomot.visualization.save import _safe_name, save_planning_visualization


@HOOKS.register_module()
class PlanningVisualizationHook(Hook):
    """Save per-sample planning plots of the test set into ``show_dir``.

    For each test sample (up to ``max_samples`` per process) writes ``<token>_bev.png`` (agent boxes,
    GT / predicted trajectories, meta-actions, command) and ``<token>_front.png`` (the front image
    with the projected trajectories; needs ``inputs['imgs']`` and the ``cam2ego`` /
    ``cam_intrinsics`` / ``cam_names`` metainfo). Does nothing while ``show_dir`` is None;
    ``tools/test.py --show-dir DIR`` sets it.

    Args:
        show_dir (str, optional): output directory (relative paths are relative to the working
            directory). Defaults to None (disabled).
        max_samples (int): maximum number of samples drawn per process. Defaults to 50.
        interval (int): draw every ``interval``-th test iteration. Defaults to 1.
        camera (str): camera name for the projection. Defaults to ``'CAM_FRONT'``.
        view_range (float): BEV plot range in metres. Defaults to 40.
        front_min_width (int): front images narrower than this are upscaled (integer factor, nearest
            neighbour) before drawing. Defaults to 512.
    """
    priority = 'LOW'

    def __init__(self, show_dir: Optional[str] = None, max_samples: int = 50, interval: int = 1,
                 camera: str = 'CAM_FRONT', view_range: float = 40.0, front_min_width: int = 512) -> None:
        if max_samples < 0 or interval < 1:
            raise ValueError(f'max_samples must be >= 0 and interval >= 1, got {max_samples}, '
                             f'{interval}')
        self.show_dir = show_dir
        self.max_samples = max_samples
        self.interval = interval
        self.camera = camera
        self.view_range = view_range
        self.front_min_width = front_min_width
        self.num_drawn = 0

    def before_test(self, runner) -> None:
        self.num_drawn = 0

    def after_test_iter(self, runner, batch_idx: int, data_batch: Any = None,
                        outputs: Optional[Sequence] = None) -> None:
        if (self.show_dir is None or not outputs or self.num_drawn >= self.max_samples
                or batch_idx % self.interval):
            return
        imgs = None
        if isinstance(data_batch, dict) and isinstance(data_batch.get('inputs'), dict):
            imgs = data_batch['inputs'].get('imgs')
        for i, sample in enumerate(outputs):
            if self.num_drawn >= self.max_samples:
                break
            sample_imgs = imgs[i] if imgs is not None and len(imgs) > i else None
            save_planning_visualization(
                sample, self.show_dir, sample_imgs,
                name=_safe_name(sample_get(sample, 'token'), f'batch{batch_idx}_{i}'),
                camera=self.camera, view_range=self.view_range, front_min_width=self.front_min_width)
            self.num_drawn += 1
