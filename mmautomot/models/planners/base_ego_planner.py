# Copyright (c) mmautomot contributors. All rights reserved.
"""Shared plumbing of the planners that only read ego state (the honest baselines)."""

from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModel
from torch import Tensor

from mmautomot.models.data_preprocessors import stack_planning_gt
from mmautomot.registry import MODELS
from mmautomot.structures import DrivingDataSample


class BaseEgoPlanner(BaseModel):
    """Base of ego-state planners: ``forward(inputs, data_samples, mode)`` dispatch and plumbing.

    Subclasses implement :meth:`predict_trajs` (inputs -> (B, T, 2) future ego positions in the
    current ego frame, metres, every ``plan_dt`` s). ``loss`` compares them with the samples'
    ``gt_ego_fut_trajs`` under ``gt_ego_fut_masks`` using ``loss_plan``; ``predict`` writes
    ``pred_ego_fut_trajs`` (T, 2) into every sample; ``tensor`` returns the (B, T, 2) tensor.

    Args:
        fut_steps (int): future steps T. Defaults to 6 (nuScenes: 3 s at 2 Hz).
        plan_dt (float): seconds between steps. Defaults to 0.5.
        loss_plan (dict): trajectory loss config. Defaults to
            ``dict(type='MaskedTrajectoryLoss', loss_type='l1')``.
        data_preprocessor (dict, optional): defaults to ``DrivingDataPreprocessor``.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(
        self,
        fut_steps: int = 6,
        plan_dt: float = 0.5,
        loss_plan: Optional[dict] = None,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='DrivingDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.fut_steps = int(fut_steps)
        self.plan_dt = float(plan_dt)
        if loss_plan is None:
            loss_plan = dict(type='MaskedTrajectoryLoss', loss_type='l1')
        self.loss_plan = MODELS.build(loss_plan)

    @staticmethod
    def batched(inputs: dict, key: str) -> Tensor:
        """``inputs[key]`` as one batch tensor (stacks a per-sample list); clear error if absent."""
        if key not in inputs:
            raise KeyError(
                f'this planner needs inputs[{key!r}] (has {sorted(inputs)}); keep '
                'BuildPlanningTargets and PackDrivingInputs in the pipeline'
            )
        value = inputs[key]
        if isinstance(value, (list, tuple)):
            value = torch.stack([torch.as_tensor(v) for v in value])
        return value

    def predict_trajs(self, inputs: dict) -> Tensor:
        """Return (B, T, 2) future ego positions in the current ego frame."""
        raise NotImplementedError

    def loss(self, inputs: dict, data_samples: Sequence[DrivingDataSample]) -> Dict[str, Tensor]:
        """Masked trajectory loss against ``gt_ego_fut_trajs`` / ``gt_ego_fut_masks``."""
        pred = self.predict_trajs(inputs)
        gt = stack_planning_gt(data_samples, ['gt_ego_fut_trajs', 'gt_ego_fut_masks'])
        target = gt['gt_ego_fut_trajs'].to(pred)
        if target.shape != pred.shape:
            raise ValueError(
                f'{type(self).__name__}: predicted {tuple(pred.shape)} but the GT '
                f'future is {tuple(target.shape)}; check fut_steps'
            )
        return dict(loss_plan=self.loss_plan(pred, target, gt['gt_ego_fut_masks'].to(pred)))

    def forward(
        self, inputs: dict, data_samples: Optional[List[DrivingDataSample]] = None, mode: str = 'tensor'
    ) -> Union[Dict[str, Tensor], List[DrivingDataSample], Tensor]:
        """MMEngine entry point.

        Args:
            inputs (dict): batched inputs from ``DrivingDataPreprocessor``: ``ego_status``
                (B, 4), ``ego_hist_trajs`` (B, H, 2), ``command`` (B,), ... (ego frame).
            data_samples (list[DrivingDataSample], optional): the batch's samples.
            mode (str): ``'loss'``, ``'predict'`` or ``'tensor'``.
        """
        if mode == 'tensor':
            return self.predict_trajs(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            trajs = self.predict_trajs(inputs).detach()
            if data_samples is None:
                data_samples = [DrivingDataSample() for _ in range(trajs.shape[0])]
            for sample, traj in zip(data_samples, trajs):
                sample.pred_ego_fut_trajs = traj
            return list(data_samples)
        raise ValueError(f"{type(self).__name__}: mode must be 'loss', 'predict' or 'tensor', got {mode!r}")
