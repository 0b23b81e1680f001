# Copyright (c) mmautomot contributors. All rights reserved.
"""Batch the outputs of ``PackDrivingInputs`` for the driving models."""

from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from mmautomot.registry import MODELS

#: Per-sample planning ground truth with a fixed shape (stackable over the batch) and its dtype.
PLANNING_GT_KEYS = {
    'gt_ego_fut_trajs': torch.float32,
    'gt_ego_fut_masks': torch.float32,
    'gt_ego_path': torch.float32,
    'gt_ego_path_masks': torch.float32,
    'gt_meta_actions': torch.long,
}
#: Fixed-shape inputs stacked over the batch, with their dtype.
_STACKED_INPUTS = {
    'imgs': None,  # uint8 stacked, then normalised to float32
    'img_hist': None,  # uint8, untouched
    'ego_status': torch.float32,
    'ego_hist_trajs': torch.float32,
    'target_point': torch.float32,
    'command': torch.long,
}


def _to_tensor(value, key: str, idx: int, dtype: Optional[torch.dtype] = None) -> Tensor:
    if isinstance(value, (Tensor, np.ndarray, int, float, np.integer, np.floating, list, tuple)):
        t = torch.as_tensor(np.asarray(value) if isinstance(value, (list, tuple)) else value)
        return t.to(dtype) if dtype is not None else t
    raise TypeError(
        f'DrivingDataPreprocessor: inputs[{key!r}] of sample {idx} must be a tensor, array '
        f'or number, got {type(value).__name__}'
    )


def _stack(key: str, values: Sequence, dtype: Optional[torch.dtype]) -> Tensor:
    tensors = [_to_tensor(v, key, i, dtype) for i, v in enumerate(values)]
    shapes = [tuple(t.shape) for t in tensors]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(
            f'DrivingDataPreprocessor: inputs[{key!r}] has different shapes across the batch '
            f'(sample: shape) {dict(enumerate(shapes))}'
        )
    return torch.stack(tensors)


def stack_planning_gt(data_samples: Sequence, keys: Optional[Sequence[str]] = None) -> Dict[str, Tensor]:
    """Stack the fixed-shape planning ground truth of a batch of ``DrivingDataSample``.

    Args:
        data_samples (Sequence[DrivingDataSample]): the batch.
        keys (Sequence[str], optional): fields to stack. Defaults to the :data:`PLANNING_GT_KEYS` present
            in the first sample.

    Returns:
        dict[str, Tensor]: e.g. ``gt_ego_fut_trajs`` (B, T, 2), ``gt_ego_fut_masks`` (B, T),
        ``gt_ego_path`` (B, P, 2), ``gt_ego_path_masks`` (B, P), ``gt_meta_actions`` (B, K, 2) long.

    Raises:
        KeyError: if a requested field is missing in a sample (names the field and the sample index).
    """
    if not data_samples:
        return {}
    if keys is None:
        keys = [k for k in PLANNING_GT_KEYS if k in data_samples[0]]
    out = {}
    for key in keys:
        missing = [i for i, s in enumerate(data_samples) if key not in s]
        if missing:
            raise KeyError(f'stack_planning_gt: {key!r} is missing in the data samples {missing}')
        out[key] = _stack(key, [s.get(key) for s in data_samples], PLANNING_GT_KEYS.get(key))
    return out


@MODELS.register_module()
class DrivingDataPreprocessor(BaseDataPreprocessor):
    """Collate, normalise and move a batch of driving samples to the model's device.

    Accepts either the list of pipeline outputs
    ``[dict(inputs=dict(img_hist, imgs, points, ego_status, ego_hist_trajs, target_point, command),
    data_samples=DrivingDataSample), ...]`` or the same batch after mmengine's ``pseudo_collate``
    (``dict(inputs=dict(key=[per-sample values]), data_samples=[...])``), and returns
    ``dict(inputs=..., data_samples=[DrivingDataSample, ...])`` with (only the keys present):

    - ``imgs`` (B, N_cam, 3, H, W) float32: ``(img - mean) / std`` per channel, after an optional BGR ->
      RGB swap (``mean``/``std`` are given in the channel order *after* the swap);
    - ``img_hist`` (B, N_hist, 3, H, W) uint8, untouched (the understanding expert's processor
      normalises it);
    - ``points`` list of B float32 tensors (N_i, C), ego frame;
    - ``ego_status`` (B, 4), ``ego_hist_trajs`` (B, H, 2), ``target_point`` (B, 2) float32;
      ``command`` (B,) long.

    Every key is optional (ego-only baselines have no ``imgs``/``points``); a key present in some samples
    but not in others is an error. Other input keys are moved to the device as they are. The samples'
    planning ground truth (:data:`PLANNING_GT_KEYS`, numpy or tensors) is converted to tensors of the
    right dtype in each sample, which stays a ``DrivingDataSample``, and moved to the device;
    :func:`stack_planning_gt` stacks them for a loss.

    Args:
        mean (Sequence[float]): per-channel mean, 0-255 scale. Defaults to ImageNet's RGB mean.
        std (Sequence[float]): per-channel std, 0-255 scale. Defaults to ImageNet's RGB std.
        bgr_to_rgb (bool): swap the channel order of ``imgs`` before normalising. Defaults to False
            (the pipeline gives RGB).
        non_blocking (bool): non-blocking device copies. Defaults to False.
    """

    def __init__(
        self,
        mean: Sequence[float] = (123.675, 116.28, 103.53),
        std: Sequence[float] = (58.395, 57.12, 57.375),
        bgr_to_rgb: bool = False,
        non_blocking: bool = False,
    ) -> None:
        super().__init__(non_blocking=non_blocking)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'DrivingDataPreprocessor: mean and std need 3 values, got {mean}, {std}')
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 1, 3, 1, 1), False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 1, 3, 1, 1), False)
        self.bgr_to_rgb = bgr_to_rgb

    @staticmethod
    def collate(data: Union[dict, List[dict]]) -> dict:
        """Bring a list of pipeline outputs into the ``pseudo_collate`` layout (dicts pass through)."""
        if isinstance(data, Mapping):
            if 'inputs' not in data:
                raise KeyError(f"DrivingDataPreprocessor: the batch dict has no 'inputs' (keys: {sorted(data)})")
            return data
        if not isinstance(data, Sequence) or not data:
            raise TypeError(
                'DrivingDataPreprocessor: expected a non-empty list of pipeline outputs or a '
                f'collated dict, got {type(data).__name__}'
            )
        keys = list(data[0]['inputs'])
        for i, item in enumerate(data):
            if set(item['inputs']) != set(keys):
                raise KeyError(
                    f'DrivingDataPreprocessor: sample {i} has inputs {sorted(item["inputs"])} but '
                    f'sample 0 has {sorted(keys)}'
                )
        out = dict(inputs={k: [item['inputs'][k] for item in data] for k in keys})
        if all('data_samples' in item for item in data):
            out['data_samples'] = [item['data_samples'] for item in data]
        return out

    def _points(self, values) -> List[Tensor]:
        if isinstance(values, Tensor) and values.dim() == 3:
            values = list(values.unbind(0))
        pts = [_to_tensor(v, 'points', i, torch.float32) for i, v in enumerate(values)]
        for i, p in enumerate(pts):
            if p.dim() != 2:
                raise ValueError(
                    f"DrivingDataPreprocessor: inputs['points'] of sample {i} must be (N, C), "
                    f'got shape {tuple(p.shape)}'
                )
        return [p.to(self.device, non_blocking=self._non_blocking) for p in pts]

    def _samples(self, samples: Sequence) -> list:
        out = []
        for sample in samples:
            for key, dtype in PLANNING_GT_KEYS.items():
                if key in sample and not isinstance(sample.get(key), Tensor):
                    sample.set_field(_to_tensor(sample.get(key), key, len(out), dtype), key)
            out.append(sample.to(self.device))
        return out

    def forward(self, data: Union[dict, List[dict]], training: bool = False) -> dict:
        """Collate and normalise a batch.

        Args:
            data (dict | list[dict]): pipeline outputs, as a list or ``pseudo_collate``-d.
            training (bool): unused (no batch augmentation).

        Returns:
            dict: ``inputs`` (see the class docstring) and ``data_samples``.
        """
        data = self.collate(data)
        inputs = {}
        for key, values in data['inputs'].items():
            if key == 'points':
                inputs[key] = self._points(values)
                continue
            if key not in _STACKED_INPUTS:
                inputs[key] = self.cast_data(values)
                continue
            batch = values if isinstance(values, Tensor) else _stack(key, values, _STACKED_INPUTS[key])
            if key == 'command':
                batch = batch.long().reshape(-1)
            elif _STACKED_INPUTS[key] is not None:
                batch = batch.to(_STACKED_INPUTS[key])
            batch = batch.to(self.device, non_blocking=self._non_blocking)
            if key == 'imgs':
                if batch.dim() != 5 or batch.shape[2] != 3:
                    raise ValueError(
                        "DrivingDataPreprocessor: inputs['imgs'] must batch to "
                        f'(B, N_cam, 3, H, W), got {tuple(batch.shape)}'
                    )
                batch = batch.float()
                if self.bgr_to_rgb:
                    batch = batch.flip(2)
                batch = (batch - self.mean) / self.std
            inputs[key] = batch
        samples = data.get('data_samples')
        return dict(inputs=inputs, data_samples=self._samples(samples) if samples is not None else None)
