# Copyright (c) mmautomot contributors. All rights reserved.
"""Camera loading: the front-camera history for the understanding expert and the current views."""

from typing import Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.fileio import get

from mmautomot.registry import TRANSFORMS


def load_rgb_image(
    path: str,
    token: str,
    size: Optional[Tuple[int, int]] = None,
    interpolation: str = 'bilinear',
    backend_args: Optional[dict] = None,
) -> Tuple[np.ndarray, Tuple[int, int]]:
    """Read one image as RGB uint8 and optionally resize it.

    Args:
        path (str): image file (any mmengine file backend).
        token (str): sample token, used in error messages.
        size (tuple[int, int], optional): output ``(width, height)``; None keeps the size.
        interpolation (str): mmcv interpolation name. Defaults to 'bilinear'.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        tuple: ``(img, (orig_h, orig_w))`` with ``img`` (H, W, 3) uint8 RGB.

    Raises:
        FileNotFoundError: the file does not exist (message names token and file).
        ValueError: the file cannot be decoded as an image (message names token and file).
    """
    try:
        img_bytes = get(path, backend_args=backend_args)
    except FileNotFoundError as err:
        raise FileNotFoundError(f'sample {token!r}: image file {path!r} not found') from err
    # decode as BGR (mmcv's RGB path crashes in cvtColor on undecodable bytes), then convert
    img = mmcv.imfrombytes(img_bytes, flag='color', channel_order='bgr', backend='cv2')
    if img is None or img.ndim != 3 or img.size == 0:
        raise ValueError(f'sample {token!r}: image file {path!r} is corrupt or not an image ({len(img_bytes)} bytes)')
    img = mmcv.bgr2rgb(img)
    orig_hw = img.shape[:2]
    if size is not None and (img.shape[1], img.shape[0]) != tuple(size):
        img = mmcv.imresize(img, tuple(size), interpolation=interpolation)
    return np.ascontiguousarray(img, dtype=np.uint8), orig_hw


def select_cameras(results: dict, cam_names: Optional[Sequence[str]], where: str) -> Tuple[str, dict, list]:
    """``(token, images, names)`` of a sample: ``cam_names`` (None: every camera of ``results['images']`` in
    its order), each checked to be present; ``where`` names the container in the error (e.g. 'the info')."""
    token = results.get('token', '<no token>')
    cams = results.get('images')
    if not cams:
        raise KeyError(f"sample {token!r}: 'images' is missing or empty")
    names = list(cam_names) if cam_names is not None else list(cams)
    absent = [n for n in names if n not in cams]
    if absent:
        raise KeyError(f'sample {token!r}: cameras {absent} not in {where} (has {sorted(cams)})')
    return token, cams, names


@TRANSFORMS.register_module()
class LoadFrontCamHistory(BaseTransform):
    """Load the last ``num_frames`` front-camera keyframes for the understanding expert.

    AutoMoT's UE sees several past front-camera frames (the released agent: 4 frames at 512x256)
    together with the text prompt.

    Required keys: ``cam_front_hist`` (list of ``dict(img_path, timestamp)``, oldest first, the
    current frame last), ``token``.
    Added keys: ``img_hist`` (N, H, W, 3) uint8 RGB, ``img_hist_timestamps`` (N,) float64 seconds.

    Args:
        num_frames (int, optional): frames to return, the newest last. If the info holds fewer,
            the earliest one is repeated at the front; None keeps all of them. Defaults to 4.
        img_size (tuple[int, int], optional): output ``(width, height)``; None keeps the
            original size (which must then agree across frames). Defaults to (512, 256).
        interpolation (str): mmcv resize interpolation. Defaults to 'bilinear'.
        backend_args (dict, optional): mmengine file backend arguments. Defaults to None.
    """

    def __init__(
        self,
        num_frames: Optional[int] = 4,
        img_size: Optional[Tuple[int, int]] = (512, 256),
        interpolation: str = 'bilinear',
        backend_args: Optional[dict] = None,
    ) -> None:
        if num_frames is not None and num_frames < 1:
            raise ValueError(f'num_frames must be >= 1 or None, got {num_frames}')
        self.num_frames = num_frames
        self.img_size = tuple(img_size) if img_size is not None else None
        self.interpolation = interpolation
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        token = results.get('token', '<no token>')
        frames = results.get('cam_front_hist')
        if not frames:
            raise KeyError(f"sample {token!r}: 'cam_front_hist' is missing or empty")
        frames = list(frames)
        if self.num_frames is not None:
            frames = frames[-self.num_frames :]
            frames = [frames[0]] * (self.num_frames - len(frames)) + frames
        imgs = [
            load_rgb_image(f['img_path'], token, self.img_size, self.interpolation, self.backend_args)[0]
            for f in frames
        ]
        shapes = {img.shape for img in imgs}
        if len(shapes) > 1:
            raise ValueError(
                f'sample {token!r}: front-camera history frames differ in size {sorted(shapes)}; set img_size'
            )
        results['img_hist'] = np.stack(imgs)
        results['img_hist_timestamps'] = np.array([f.get('timestamp', np.nan) for f in frames], dtype=np.float64)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_frames={self.num_frames}, img_size={self.img_size})'


@TRANSFORMS.register_module()
class LoadMultiViewImages(BaseTransform):
    """Load the current frame's camera images, resize them and rescale the intrinsics.

    Required keys: ``images`` (``{cam: dict(img_path, cam2img 3x3, cam2ego 4x4, ...)}``),
    ``token``.
    Added keys: ``imgs`` (N_cam, H, W, 3) uint8 RGB in ``cam_names`` order, ``cam_names``,
    ``cam2ego`` (N_cam, 4, 4), ``cam_intrinsics`` (N_cam, 3, 3) for the resized images (the focal
    lengths and principal point scaled by the resize factors, as mmdet3d does), ``img_shape``
    ``(H, W)`` and ``ori_img_shape`` ``(H, W)`` of the first camera.

    Args:
        cam_names (Sequence[str], optional): cameras to load, in order; None loads all cameras of
            the info in their stored order. Defaults to None.
        img_size (tuple[int, int], optional): output ``(width, height)``; None keeps the original
            size (which must then agree across cameras). Defaults to None.
        interpolation (str): mmcv resize interpolation. Defaults to 'bilinear'.
        backend_args (dict, optional): mmengine file backend arguments. Defaults to None.
    """

    def __init__(
        self,
        cam_names: Optional[Sequence[str]] = None,
        img_size: Optional[Tuple[int, int]] = None,
        interpolation: str = 'bilinear',
        backend_args: Optional[dict] = None,
    ) -> None:
        self.cam_names = list(cam_names) if cam_names is not None else None
        self.img_size = tuple(img_size) if img_size is not None else None
        self.interpolation = interpolation
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        token, cams, names = select_cameras(results, self.cam_names, 'the info')
        imgs, intrinsics, cam2ego, ori_shapes = [], [], [], []
        for name in names:
            cam = cams[name]
            img, (h0, w0) = load_rgb_image(cam['img_path'], token, self.img_size, self.interpolation, self.backend_args)
            scale = np.diag([img.shape[1] / w0, img.shape[0] / h0, 1.0])
            intrinsics.append(scale @ np.asarray(cam['cam2img'], dtype=np.float64)[:3, :3])
            cam2ego.append(np.asarray(cam['cam2ego'], dtype=np.float64))
            imgs.append(img)
            ori_shapes.append((h0, w0))
        shapes = {img.shape for img in imgs}
        if len(shapes) > 1:
            raise ValueError(f'sample {token!r}: camera images differ in size {sorted(shapes)}; set img_size')
        results['imgs'] = np.stack(imgs)
        results['cam_names'] = names
        results['cam2ego'] = np.stack(cam2ego).astype(np.float32)
        results['cam_intrinsics'] = np.stack(intrinsics).astype(np.float32)
        results['img_shape'] = imgs[0].shape[:2]
        results['ori_img_shape'] = ori_shapes[0]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(cam_names={self.cam_names}, img_size={self.img_size})'
