# Copyright (c) mmautomot contributors. All rights reserved.
"""An MMEngine ``Visualizer`` that draws planning samples (BEV + front camera) to every vis backend."""

from typing import Any, Optional

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from mmengine.visualization import Visualizer

from mmautomot.registry import VISUALIZERS

from .bev import draw_planning_bev
from .camera import draw_front_camera


def figure_to_rgb(fig) -> np.ndarray:
    """Render a matplotlib ``Figure`` (not attached to pyplot) to an (H, W, 3) uint8 RGB array."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def side_by_side(left: np.ndarray, right: Optional[np.ndarray]) -> np.ndarray:
    """Place two RGB images next to each other; ``right`` is scaled to ``left``'s height."""
    if right is None:
        return left
    h = left.shape[0]
    w = max(1, int(round(right.shape[1] * h / right.shape[0])))
    right = cv2.resize(np.ascontiguousarray(right), (w, h), interpolation=cv2.INTER_AREA)
    return np.concatenate([left, right], axis=1)


@VISUALIZERS.register_module()
class DrivingLocalVisualizer(Visualizer):
    """Draw planning samples through MMEngine's visualizer, as mmdet3d's ``Det3DLocalVisualizer`` does for boxes.

    :meth:`add_datasample` renders one :class:`~mmautomot.structures.DrivingDataSample` (or its ``to_dict()``
    form) as the BEV plot (agent boxes, ego footprint, GT / predicted trajectories and path, meta-actions,
    command) next to the front camera image with the trajectories projected into it, then either writes it to
    ``out_file`` or sends it to every vis backend (``LocalVisBackend`` files, TensorBoard, W&B) with
    :meth:`add_image`.

    Args:
        name (str): instance name. Defaults to ``'visualizer'``.
        vis_backends (list[dict], optional): MMEngine vis backend configs.
        save_dir (str, optional): backends' save directory (the runner sets it to ``<work_dir>/<timestamp>``).
        view_range (float): metres shown ahead in the BEV plot. Defaults to 40.
        camera (str): camera to project into. Defaults to ``'CAM_FRONT'``.
        front_min_width (int): upscale smaller front frames to at least this width. Defaults to 512.
    """

    def __init__(
        self,
        name: str = 'visualizer',
        vis_backends: Optional[list] = None,
        save_dir: Optional[str] = None,
        view_range: float = 40.0,
        camera: str = 'CAM_FRONT',
        front_min_width: int = 512,
        **kwargs,
    ) -> None:
        super().__init__(name=name, vis_backends=vis_backends, save_dir=save_dir, **kwargs)
        self.view_range = view_range
        self.camera = camera
        self.front_min_width = front_min_width

    def draw_sample(self, data_sample: Any, imgs: Any = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB: the BEV plot, and the front camera overlay to its right when images exist.

        Args:
            data_sample (DrivingDataSample | dict): predictions and GT of one sample.
            imgs (Tensor | np.ndarray, optional): (N_cam, 3, H, W) uint8 RGB current images of the sample.
        """
        bev = figure_to_rgb(draw_planning_bev(data_sample, view_range=self.view_range))
        front = draw_front_camera(data_sample, imgs, camera=self.camera, min_width=self.front_min_width)
        return side_by_side(bev, front)

    def add_datasample(
        self,
        name: str,
        image: Any = None,
        data_sample: Any = None,
        draw_gt: bool = True,
        draw_pred: bool = True,
        show: bool = False,
        wait_time: float = 0,
        out_file: Optional[str] = None,
        step: int = 0,
    ) -> np.ndarray:
        """Draw one sample; write it to ``out_file`` if given, else to every vis backend under ``name``.

        Args:
            name (str): the image name in the backends (e.g. ``'val_<token>'``).
            image (Tensor | np.ndarray, optional): the sample's (N_cam, 3, H, W) uint8 RGB camera images.
            data_sample (DrivingDataSample | dict): the sample.
            draw_gt, draw_pred (bool): kept for MMEngine's signature; GT and predictions are both drawn
                when present (the plot's legend tells them apart).
            show (bool): also show it in a window. Defaults to False.
            wait_time (float): seconds to wait when showing.
            out_file (str, optional): write a PNG here instead of the backends.
            step (int): global step for the backends.

        Returns:
            np.ndarray: the drawn (H, W, 3) RGB image.
        """
        if data_sample is None:
            raise ValueError(f'{type(self).__name__}.add_datasample({name!r}): data_sample is required')
        drawn = self.draw_sample(data_sample, image)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            if not cv2.imwrite(out_file, cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR)):
                raise OSError(f'could not write {out_file}')
        else:
            self.add_image(name, drawn, step)
        return drawn
