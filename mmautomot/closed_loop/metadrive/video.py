# Copyright (c) mmautomot contributors. All rights reserved.
"""Per-episode camera videos of the MetaDrive closed loop: mp4 (OpenCV's FFmpeg writer, ``mp4v``) with a
GIF fallback where OpenCV cannot write mp4, and the six-camera mosaic.

OpenCV (``opencv-python``, already a MetaDrive requirement) ships FFmpeg in its wheels, so no extra
package is needed; :func:`save_video` checks that the writer opened and that frames went in, and otherwise
writes a GIF with Pillow next to it.
"""

import os
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np

#: mosaic layout of the six-camera rig (nuScenes' viewer order): front row, then back row.
MOSAIC = (('CAM_FRONT_LEFT', 'CAM_FRONT', 'CAM_FRONT_RIGHT'), ('CAM_BACK_LEFT', 'CAM_BACK', 'CAM_BACK_RIGHT'))


def mosaic(images: Dict[str, np.ndarray], layout: Sequence[Sequence[str]] = MOSAIC) -> np.ndarray:
    """Tile same-size (H, W, C) camera images into rows x cols (a missing camera is black)."""
    ref = next(iter(images.values()))
    blank = np.zeros_like(ref)
    return np.concatenate([np.concatenate([images.get(n, blank) for n in row], axis=1) for row in layout], axis=0)


def save_gif(frames: List[np.ndarray], path: str, fps: float = 10.0) -> str:
    """(H, W, 3) RGB uint8 frames -> an animated GIF. Returns ``path``."""
    from PIL import Image

    imgs = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=int(round(1000 / fps)), loop=0)
    return path


def save_mp4(frames: List[np.ndarray], path: str, fps: float = 10.0) -> bool:
    """(H, W, 3) RGB uint8 frames -> mp4 (``mp4v``). Returns False when OpenCV cannot write it."""
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), float(fps), (int(w), int(h)))
    if not writer.isOpened():
        return False
    try:
        for f in frames:
            if f.shape[:2] != (h, w):
                raise ValueError(f'{path}: video frames must share one size, got {f.shape[:2]} after {(h, w)}')
            writer.write(np.ascontiguousarray(f[:, :, ::-1]))  # RGB -> BGR
    finally:
        writer.release()
    return osp.isfile(path) and osp.getsize(path) > 0


def save_video(frames: List[np.ndarray], path_stem: str, fps: float = 10.0, fmt: str = 'mp4') -> str:
    """Write ``path_stem + '.mp4'`` (or ``'.gif'`` when ``fmt='gif'`` or mp4 writing fails).

    Args:
        frames (list[np.ndarray]): (H, W, 3) RGB uint8 frames.
        path_stem (str): output path without extension.
        fps (float): frames per second. Defaults to 10.
        fmt (str): ``'mp4'`` (GIF fallback) or ``'gif'``. Defaults to 'mp4'.

    Returns:
        str: the path written.
    """
    if not frames:
        raise ValueError(f'{path_stem}: no frames to write')
    if fmt not in ('mp4', 'gif'):
        raise ValueError(f"video format must be 'mp4' or 'gif', got {fmt!r}")
    os.makedirs(osp.dirname(osp.abspath(path_stem)), exist_ok=True)
    if fmt == 'mp4' and save_mp4(frames, path_stem + '.mp4', fps):
        return path_stem + '.mp4'
    return save_gif(frames, path_stem + '.gif', fps)
