# Copyright (c) mmautomot contributors. All rights reserved.
"""Planning targets and the understanding-expert prompt of one sample."""

from typing import Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform

from mmautomot.registry import TRANSFORMS
from mmautomot.structures import COMMANDS

DEFAULT_SYSTEM_PROMPT = (
    'You are the driver of an autonomous vehicle. The images are the most recent front-camera frames, oldest first.'
)
DEFAULT_PROMPT_TEMPLATE = '{system_prompt}\nNavigation command: {command}.\nCurrent speed: {speed:.1f} m/s.'

#: info key -> (sample field, dtype, trailing shape); ``T`` is the future length of the info.
GT_FIELDS = {
    'ego_fut_trajs': ('gt_ego_fut_trajs', np.float32, (-1, 2)),
    'ego_fut_masks': ('gt_ego_fut_masks', np.float32, (-1,)),
    'ego_path': ('gt_ego_path', np.float32, (-1, 2)),
    'ego_path_masks': ('gt_ego_path_masks', np.float32, (-1,)),
    'meta_actions': ('gt_meta_actions', np.int64, (-1, 2)),
    'plan_agent_boxes': ('gt_agent_boxes', np.float32, (-1, 7)),
    'plan_agent_labels': ('gt_agent_labels', np.int64, (-1,)),
    'plan_agent_fut_trajs': ('gt_agent_fut_trajs', np.float32, (-1, 'T', 2)),
    'plan_agent_fut_yaws': ('gt_agent_fut_yaws', np.float32, (-1, 'T')),
    'plan_agent_fut_masks': ('gt_agent_fut_masks', np.float32, (-1, 'T')),
}
#: copied like :data:`GT_FIELDS` when the info has them (older infos do not): the future LIDAR_TOP
#: origins, the trajectory point of the published nuScenes planning protocols (``PlanningMetric``)
OPTIONAL_GT_FIELDS = {
    'ego_fut_lidar_trajs': ('gt_ego_fut_lidar_trajs', np.float32, ('T', 2)),
}
#: ego inputs of the planners: info key -> (dtype, shape)
EGO_INPUTS = {
    'ego_status': (np.float32, (4,)),
    'ego_hist_trajs': (np.float32, (-1, 2)),
    'target_point': (np.float32, (2,)),
}


def command_words(command: int) -> str:
    """``2`` -> ``'go straight'`` (see :data:`mmautomot.structures.COMMANDS`)."""
    if not 0 <= int(command) < len(COMMANDS):
        raise ValueError(f'command must be in [0, {len(COMMANDS)}), got {command}')
    return COMMANDS[int(command)].replace('_', ' ')


@TRANSFORMS.register_module()
class BuildPlanningTargets(BaseTransform):
    """Copy the planning labels into sample fields and build the UE text prompt.

    Ground truth (ego frame, see :class:`mmautomot.structures.DrivingDataSample`): the info's
    ``ego_fut_trajs``, ``ego_fut_masks``, ``ego_path``, ``ego_path_masks``, ``meta_actions``,
    ``plan_agent_boxes``, ``plan_agent_labels``, ``plan_agent_fut_trajs``, ``plan_agent_fut_yaws``
    and ``plan_agent_fut_masks`` become ``gt_ego_fut_trajs``, ..., ``gt_agent_boxes``, ...,
    ``gt_agent_fut_masks`` with fixed dtypes and shapes (an empty agent list gives (0, 7),
    (0, T, 2), ...); ``ego_fut_lidar_trajs`` (T, 2) becomes ``gt_ego_fut_lidar_trajs`` when present,
    and ``lidar_points.lidar2ego`` becomes ``lidar2ego`` unless a loader set it (both are read by
    ``PlanningMetric`` for the published protocols' LiDAR reference point). The ego inputs
    ``ego_status`` (4,), ``ego_hist_trajs`` (H, 2), ``target_point`` (2,) are cast to float32 and
    ``command`` to int.

    The prompt is ``prompt_template.format(system_prompt=..., command=<words>, speed=<m/s>,
    target_x=..., target_y=..., num_frames=...)``, e.g. ``'... Navigation command: turn left.
    Current speed: 5.2 m/s.'``; unused fields are ignored.

    Args:
        gt_keys (Sequence[str], optional): info keys of :data:`GT_FIELDS` to copy; each must be
            present (the error names the sample and key). None copies all of them. Defaults to
            None.
        system_prompt (str): the system part of the prompt.
        prompt_template (str): format string of the prompt.
        with_prompt (bool): build ``prompt``. Defaults to True.
        use_target_point (bool): pass the info's ``target_point`` to the model. Set it to False for
            nuScenes: there the converter derives the target point from the GT future (its last valid
            point), so feeding it leaks the answer into open-loop evaluation; the input is then (0, 0) and
            the planner relies on the navigation command, as in the published nuScenes protocols.
            CARLA target points come from the route planner and are legitimate inputs. Defaults to True.
        with_gt (bool): copy the ground truth. False (inference on an observation, ``Driver``): no ``gt_*``
            field is read or written and ``ego_hist_trajs`` is optional. Defaults to True.
        keep_prompt (bool): keep a non-empty ``prompt`` already in the result (e.g. a closed-loop observation's)
            instead of building one. Defaults to False.
    """

    def __init__(
        self,
        gt_keys: Optional[tuple] = None,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        prompt_template: str = DEFAULT_PROMPT_TEMPLATE,
        with_prompt: bool = True,
        use_target_point: bool = True,
        with_gt: bool = True,
        keep_prompt: bool = False,
    ) -> None:
        gt_keys = tuple(GT_FIELDS) if gt_keys is None else tuple(gt_keys)
        unknown = [k for k in gt_keys if k not in GT_FIELDS]
        if unknown:
            raise KeyError(f'unknown gt_keys {unknown}; choose from {list(GT_FIELDS)}')
        self.gt_keys = gt_keys
        self.system_prompt = system_prompt
        self.prompt_template = prompt_template
        self.with_prompt = with_prompt
        self.use_target_point = use_target_point
        self.with_gt = with_gt
        self.keep_prompt = keep_prompt

    @staticmethod
    def _get(results: dict, key: str, token: str) -> np.ndarray:
        if key not in results:
            raise KeyError(f'sample {token!r}: planning field {key!r} missing from the info')
        return np.asarray(results[key])

    def transform(self, results: dict) -> dict:
        token = results.get('token', '<no token>')
        out: Dict[str, np.ndarray] = {}
        gt_keys, optional, steps = (), (), 0
        if self.with_gt:
            steps = self._get(results, 'ego_fut_trajs', token).reshape(-1, 2).shape[0]
            gt_keys, optional = self.gt_keys, [k for k in OPTIONAL_GT_FIELDS if k in results]
        for key in list(gt_keys) + list(optional):
            field, dtype, shape = GT_FIELDS[key] if key in GT_FIELDS else OPTIONAL_GT_FIELDS[key]
            shape = tuple(steps if s == 'T' else s for s in shape)
            value = self._get(results, key, token).astype(dtype)
            try:
                out[field] = value.reshape(shape)
            except ValueError as err:
                raise ValueError(f'sample {token!r}: {key!r} of shape {value.shape} does not fit {shape}') from err
        for key, (dtype, shape) in EGO_INPUTS.items():
            if key == 'ego_hist_trajs' and not self.with_gt and key not in results:
                continue
            value = self._get(results, key, token).astype(dtype)
            try:
                results[key] = value.reshape(shape)
            except ValueError as err:
                raise ValueError(f'sample {token!r}: {key!r} of shape {value.shape} does not fit {shape}') from err
        if not self.use_target_point:
            results['target_point'] = np.zeros(2, np.float32)
        results['command'] = int(self._get(results, 'command', token))
        results.update(out)
        lidar2ego = (results.get('lidar_points') or {}).get('lidar2ego')
        if 'lidar2ego' not in results and lidar2ego is not None:  # for the metric's reference point
            results['lidar2ego'] = np.asarray(lidar2ego, np.float32)
        if self.with_prompt and not (self.keep_prompt and results.get('prompt')):
            n_frames = len(results['img_hist']) if 'img_hist' in results else len(results.get('cam_front_hist', ()))
            results['prompt'] = self.prompt_template.format(
                system_prompt=self.system_prompt,
                command=command_words(results['command']),
                speed=float(results['ego_status'][0]),
                target_x=float(results['target_point'][0]),
                target_y=float(results['target_point'][1]),
                num_frames=n_frames,
            )
        return results

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(gt_keys={self.gt_keys}, with_prompt={self.with_prompt}, '
            f'use_target_point={self.use_target_point}, with_gt={self.with_gt})'
        )
