# Copyright (c) mmautomot contributors. All rights reserved.
"""Write the BEV and front-camera planning plots of one sample to files."""
import os
import os.path as osp
import re
from typing import Any, List, Optional

from .bev import draw_planning_bev, sample_get
from .camera import draw_front_camera


def _safe_name(token: Any, fallback: str) -> str:
    name = re.sub(r'[^A-Za-z0-9_.-]+', '_', str(token)) if token not in (None, '') else ''
    return name or fallback


def save_planning_visualization(sample: Any, out_dir: str, imgs: Any = None,
                                name: Optional[str] = None, camera: str = 'CAM_FRONT',
                                view_range: float = 40.0, front_min_width: int = 0) -> List[str]:
    """Write ``<name>_bev.png`` and (if images and calibration exist) ``<name>_front.png``.

    Args:
        sample (DrivingDataSample | dict): predictions and GT of one sample.
        out_dir (str): output directory (created).
        imgs (Tensor | np.ndarray, optional): (N_cam, 3, H, W) uint8 RGB current images.
        name (str, optional): file stem; defaults to the sample token.
        camera (str): camera for the projection. Defaults to ``'CAM_FRONT'``.
        view_range (float): BEV range in metres. Defaults to 40.
        front_min_width (int): upscale the front image to at least this width (see
            :func:`draw_front_camera`). Defaults to 0.

    Returns:
        list[str]: the written files.
    """
    os.makedirs(out_dir, exist_ok=True)
    stem = name or _safe_name(sample_get(sample, 'token'), 'sample')
    written = [osp.join(out_dir, f'{stem}_bev.png')]
    draw_planning_bev(sample, written[0], view_range=view_range)
    front = osp.join(out_dir, f'{stem}_front.png')
    if draw_front_camera(sample, imgs, camera=camera, out_file=front, min_width=front_min_width) is not None:
        written.append(front)
    return written
