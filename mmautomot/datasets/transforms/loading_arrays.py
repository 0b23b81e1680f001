# Copyright (c) mmautomot contributors. All rights reserved.
"""From-array loaders: the file loaders' outputs from in-memory arrays (closed-loop observations).

As mmdet3d's inference API swaps ``LoadPointsFromFile`` for ``LoadPointsFromDict``, ``Driver`` runs the
config's test pipeline with the file loaders replaced by these (:func:`array_pipeline`); every transform after
the loading is the dataset's own, so training and closed loop see the same sizes, point columns, prompt and
UE tokens.
"""

import copy
from typing import List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from mmautomot.registry import TRANSFORMS

from .loading_images import select_cameras


def _rgb(img, token: str, name: str) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(f'sample {token!r}: {name} must be an (H, W, 3) uint8 RGB array, got {arr.shape} {arr.dtype}')
    return arr


def _resize(img: np.ndarray, size: Optional[Tuple[int, int]], interpolation: str) -> np.ndarray:
    """``(width, height)`` resize exactly as :func:`~mmautomot.datasets.transforms.load_rgb_image` does."""
    if size is not None and (img.shape[1], img.shape[0]) != tuple(size):
        img = mmcv.imresize(img, tuple(size), interpolation=interpolation)
    return np.ascontiguousarray(img, dtype=np.uint8)


@TRANSFORMS.register_module()
class LoadFrontCamHistoryFromArray(BaseTransform):
    """:class:`LoadFrontCamHistory` on in-memory frames.

    Required keys: ``img_hist`` (sequence of (H, W, 3) uint8 RGB frames, oldest first, the current one last).
    Added keys: ``img_hist`` (N, H', W', 3) uint8 (last ``num_frames``, the earliest repeated at a start, resized
    to ``img_size``), ``img_hist_timestamps`` (N,) float64 (``img_hist_timestamps`` of the input, else NaN).

    Args:
        num_frames (int, optional): as :class:`LoadFrontCamHistory`. Defaults to 4.
        img_size (tuple[int, int], optional): output ``(width, height)``; None keeps the size. Defaults to
            (512, 256).
        interpolation (str): mmcv resize interpolation. Defaults to 'bilinear'.
    """

    def __init__(
        self,
        num_frames: Optional[int] = 4,
        img_size: Optional[Tuple[int, int]] = (512, 256),
        interpolation: str = 'bilinear',
    ) -> None:
        if num_frames is not None and num_frames < 1:
            raise ValueError(f'num_frames must be >= 1 or None, got {num_frames}')
        self.num_frames = num_frames
        self.img_size = tuple(img_size) if img_size is not None else None
        self.interpolation = interpolation

    def transform(self, results: dict) -> dict:
        token = results.get('token', '<no token>')
        frames = results.get('img_hist')
        if frames is None or len(frames) == 0:
            raise KeyError(f"sample {token!r}: 'img_hist' (front-camera frames) is missing or empty")
        frames = [_rgb(f, token, f'img_hist[{i}]') for i, f in enumerate(frames)]
        stamps = list(results.get('img_hist_timestamps', [np.nan] * len(frames)))
        if self.num_frames is not None:
            frames, stamps = frames[-self.num_frames :], stamps[-self.num_frames :]
            pad = self.num_frames - len(frames)
            frames, stamps = [frames[0]] * pad + frames, [stamps[0]] * pad + stamps
        imgs = [_resize(f, self.img_size, self.interpolation) for f in frames]
        shapes = {img.shape for img in imgs}
        if len(shapes) > 1:
            raise ValueError(f'sample {token!r}: img_hist frames differ in size {sorted(shapes)}; set img_size')
        results['img_hist'] = np.stack(imgs)
        results['img_hist_timestamps'] = np.asarray(stamps, dtype=np.float64)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_frames={self.num_frames}, img_size={self.img_size})'


@TRANSFORMS.register_module()
class LoadMultiViewImagesFromArray(BaseTransform):
    """:class:`LoadMultiViewImages` on in-memory images.

    Required keys: ``images`` (``{cam: (H, W, 3) uint8 RGB}``); optional ``cam_intrinsics`` /
    ``cam2ego`` (``{cam: 3x3 / 4x4}``, for the original image size).
    Added keys: ``imgs`` (N_cam, H', W', 3) uint8 in ``cam_names`` order, ``cam_names``, ``img_shape`` and
    ``ori_img_shape`` ``(H, W)`` of the first camera; with calibration also ``cam_intrinsics`` (N_cam, 3, 3)
    rescaled to the resized images (as :class:`LoadMultiViewImages`) and ``cam2ego`` (N_cam, 4, 4).

    Args:
        cam_names (Sequence[str], optional): cameras, in order; None takes all of ``images`` in their order.
            Defaults to None.
        img_size (tuple[int, int], optional): output ``(width, height)``; None keeps the size. Defaults to None.
        interpolation (str): mmcv resize interpolation. Defaults to 'bilinear'.
    """

    def __init__(
        self,
        cam_names: Optional[Sequence[str]] = None,
        img_size: Optional[Tuple[int, int]] = None,
        interpolation: str = 'bilinear',
    ) -> None:
        self.cam_names = list(cam_names) if cam_names is not None else None
        self.img_size = tuple(img_size) if img_size is not None else None
        self.interpolation = interpolation

    def transform(self, results: dict) -> dict:
        token, cams, names = select_cameras(results, self.cam_names, 'images')
        raw = [_rgb(cams[n], token, f"images['{n}']") for n in names]
        imgs = [_resize(img, self.img_size, self.interpolation) for img in raw]
        shapes = {img.shape for img in imgs}
        if len(shapes) > 1:
            raise ValueError(f'sample {token!r}: camera images differ in size {sorted(shapes)}; set img_size')
        intr, cam2ego = results.get('cam_intrinsics'), results.get('cam2ego')
        if isinstance(intr, dict):
            scaled = []
            for name, src, img in zip(names, raw, imgs):
                scale = np.diag([img.shape[1] / src.shape[1], img.shape[0] / src.shape[0], 1.0])
                scaled.append(scale @ np.asarray(intr[name], dtype=np.float64)[:3, :3])
            results['cam_intrinsics'] = np.stack(scaled).astype(np.float32)
        if isinstance(cam2ego, dict):
            results['cam2ego'] = np.stack([np.asarray(cam2ego[n], np.float64) for n in names]).astype(np.float32)
        results['imgs'] = np.stack(imgs)
        results['cam_names'] = names
        results['img_shape'] = imgs[0].shape[:2]
        results['ori_img_shape'] = raw[0].shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(cam_names={self.cam_names}, img_size={self.img_size})'


@TRANSFORMS.register_module()
class LoadPointsFromArray(BaseTransform):
    """The point loaders' output from an in-memory cloud already in the ego frame (x forward, y left, z up).

    The array's columns are the LiDAR file's (x, y, z, intensity, ...); ``use_dim`` selects them as
    :class:`LoadPointsInEgoFrame` does, and ``time_lag`` appends a zero time-lag column (the current cloud),
    so the columns equal the dataset's for a pipeline without past sweeps.

    Required keys: ``points`` (N, C) float. Added keys: ``points`` (N, len(use_dim) [+ 1]) float32.

    Args:
        use_dim (int | Sequence[int], optional): columns to keep (an int n: the first n); must start with 0, 1,
            2. None keeps all. Defaults to None.
        time_lag (bool): append the time-lag column (zeros). Defaults to False.
    """

    def __init__(self, use_dim: Union[int, Sequence[int], None] = None, time_lag: bool = False) -> None:
        if use_dim is not None:
            use_dim = list(range(use_dim)) if isinstance(use_dim, int) else list(use_dim)
            if use_dim[:3] != [0, 1, 2]:
                raise ValueError(f'use_dim must start with 0, 1, 2, got {use_dim}')
        self.use_dim = use_dim
        self.time_lag = time_lag

    def transform(self, results: dict) -> dict:
        token = results.get('token', '<no token>')
        if 'points' not in results:
            raise KeyError(f"sample {token!r}: 'points' is missing")
        pts = np.asarray(results['points'], dtype=np.float32)
        if pts.ndim != 2 or pts.shape[1] < 3:
            raise ValueError(f"sample {token!r}: 'points' must be (N, C>=3), got {pts.shape}")
        if self.use_dim is not None:
            if max(self.use_dim) >= pts.shape[1]:
                raise ValueError(
                    f"sample {token!r}: 'points' has {pts.shape[1]} columns, the pipeline uses columns {self.use_dim}"
                )
            pts = pts[:, self.use_dim]
        if self.time_lag:
            pts = np.concatenate([pts, np.zeros((len(pts), 1), np.float32)], axis=1)
        results['points'] = np.ascontiguousarray(pts, np.float32)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(use_dim={self.use_dim}, time_lag={self.time_lag})'


def _history(cfg: dict) -> dict:
    return dict(
        type='LoadFrontCamHistoryFromArray',
        num_frames=cfg.get('num_frames', 4),
        img_size=cfg.get('img_size', (512, 256)),
        interpolation=cfg.get('interpolation', 'bilinear'),
    )


def _views(cfg: dict) -> dict:
    return dict(
        type='LoadMultiViewImagesFromArray',
        cam_names=cfg.get('cam_names'),
        img_size=cfg.get('img_size'),
        interpolation=cfg.get('interpolation', 'bilinear'),
    )


#: file loader type -> its from-array counterpart's config (built from the file loader's config)
ARRAY_LOADERS = {
    'LoadFrontCamHistory': _history,
    'LoadMultiViewImages': _views,
    'LoadPointsInEgoFrame': lambda c: dict(
        type='LoadPointsFromArray', use_dim=c.get('use_dim', 4), time_lag=c.get('time_lag', True)
    ),
    'LoadCarlaPoints': lambda c: dict(type='LoadPointsFromArray', use_dim=c.get('num_feats', 4)),
}


def array_pipeline(pipeline: Sequence[dict]) -> List[dict]:
    """A dataset pipeline config with its file loaders (:data:`ARRAY_LOADERS`) swapped for from-array ones.

    Past LiDAR sweeps (``sweeps_num``), ``remove_close`` and ``max_points`` have no in-memory counterpart: the
    observation's cloud is taken as given. Every other transform is kept (deep-copied).
    """
    out = []
    for cfg in pipeline:
        cfg = copy.deepcopy(dict(cfg))
        make = ARRAY_LOADERS.get(cfg.get('type'))
        out.append(make(cfg) if make is not None else cfg)
    return out
