# Copyright (c) mmautomot contributors. All rights reserved.
"""Pack a pipeline result into model inputs and a :class:`DrivingDataSample`."""

from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmautomot.registry import TRANSFORMS
from mmautomot.structures import DrivingDataSample

#: result key -> dtype of the packed input tensor
INPUT_KEYS = {
    'img_hist': torch.uint8,
    'imgs': torch.uint8,
    'points': torch.float32,
    'ego_status': torch.float32,
    'ego_hist_trajs': torch.float32,
    'target_point': torch.float32,
    'command': torch.int64,
}
IMAGE_KEYS = ('img_hist', 'imgs')
GT_KEYS = (
    'gt_ego_fut_trajs',
    'gt_ego_fut_masks',
    'gt_ego_path',
    'gt_ego_path_masks',
    'gt_meta_actions',
    'gt_agent_boxes',
    'gt_agent_labels',
    'gt_agent_fut_trajs',
    'gt_agent_fut_yaws',
    'gt_agent_fut_masks',
    'gt_ego_fut_lidar_trajs',
)
META_KEYS = (
    'sample_idx',
    'token',
    'scene_token',
    'timestamp',
    'dataset',
    'cam_names',
    'lidar2ego',
    'ego2global',
    'cam2ego',
    'cam_intrinsics',
    'img_shape',
    'ori_img_shape',
    'prompt',
    'instruction',
    'command',
    'plan_dt',
    'path_spacing',
    'can_bus',
)


@TRANSFORMS.register_module()
class PackDrivingInputs(BaseTransform):
    """Pack the result into ``dict(inputs=dict(...), data_samples=DrivingDataSample)``.

    ``inputs`` holds the keys of :data:`INPUT_KEYS` that are present: ``img_hist``
    (N_hist, 3, H, W) uint8 and ``imgs`` (N_cam, 3, H, W) uint8 (HWC -> CHW, no normalisation),
    ``points`` (N, C) float32 (ego frame), ``ego_status`` (4,), ``ego_hist_trajs`` (H, 2),
    ``target_point`` (2,) float32, ``command`` () int64 and ``vlm_inputs`` (the dict of
    :class:`ProcessVLMInputs`, as is). The data sample gets the metainfo keys
    in ``meta_keys`` that are present and the ``gt_*`` fields as tensors (see
    :class:`mmautomot.structures.DrivingDataSample`). Absent keys are simply omitted.

    Args:
        meta_keys (Sequence[str]): result keys copied into the sample metainfo. Defaults to
            :data:`META_KEYS`.
    """

    def __init__(self, meta_keys: Sequence[str] = META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        inputs = {}
        for key, dtype in INPUT_KEYS.items():
            if key not in results:
                continue
            value = np.asarray(results[key])
            if key in IMAGE_KEYS:
                if value.ndim != 4 or value.shape[-1] != 3:
                    raise ValueError(
                        f'sample {results.get("token")!r}: {key!r} must be (N, H, W, 3), got {value.shape}'
                    )
                value = value.transpose(0, 3, 1, 2)
            inputs[key] = torch.from_numpy(np.array(value, order='C')).to(dtype)  # keeps 0-d
        if 'vlm_inputs' in results:  # ProcessVLMInputs: per-sample UE tensors, batched by the model's UE
            inputs['vlm_inputs'] = dict(results['vlm_inputs'])
        sample = DrivingDataSample(metainfo={k: results[k] for k in self.meta_keys if k in results})
        for key in GT_KEYS:
            if key in results:
                sample.set_field(torch.from_numpy(np.array(results[key], order='C')), key)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
