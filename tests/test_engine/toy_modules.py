# Copyright (c) mmautomot contributors. All rights reserved.
"""Tiny registered model / dataset / metric for runner-level tests (not collected by pytest).

Configs load it with ``custom_imports=dict(imports=['toy_modules'])`` and ``tests/test_engine`` on
``PYTHONPATH``; :func:`toy_config` returns such a config as a dict. The task: predict a 6-step
(x, y) trajectory that is a fixed linear function of a 4-d ego state.
"""

import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

from mmautomot.registry import DATASETS, METRICS, MODELS

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))


@DATASETS.register_module(force=True)
class ToyTrajDataset(Dataset):
    """Random ego states and their linear 6x2 trajectories.

    Args:
        num_samples (int): Dataset length. Defaults to 16.
        seed (int): Seed of the generator. Defaults to 0.
        metainfo (dict, optional): Meta information (stored in checkpoints as ``dataset_meta``).
    """

    def __init__(self, num_samples: int = 16, seed: int = 0, metainfo: Optional[Dict] = None):
        self.metainfo = metainfo if metainfo is not None else dict(dataset='toy', fut_steps=6)
        rng = np.random.default_rng(seed)
        self.states = rng.standard_normal((num_samples, 4)).astype(np.float32)
        weight = np.random.default_rng(1234).standard_normal((4, 12)).astype(np.float32)
        self.trajs = (self.states @ weight).reshape(num_samples, 6, 2)

    def __len__(self) -> int:
        return len(self.states)

    def __getitem__(self, idx: int) -> Dict:
        return dict(
            inputs=torch.from_numpy(self.states[idx]), data_samples=dict(gt_traj=torch.from_numpy(self.trajs[idx]))
        )


@MODELS.register_module(force=True)
class ToyPlanner(BaseModel):
    """Linear planner: ego state (B, 4) -> trajectory (B, 6, 2).

    Args:
        hidden (int): Hidden width. Defaults to 8.
    """

    def __init__(self, hidden: int = 8, data_preprocessor: Optional[Dict] = None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.Linear(hidden, 12))

    def forward(self, inputs: torch.Tensor, data_samples: Optional[Dict] = None, mode: str = 'tensor'):
        pred = self.net(inputs).view(-1, 6, 2)
        if mode == 'tensor':
            return pred
        if mode == 'loss':
            return dict(loss_traj=(pred - data_samples['gt_traj']).abs().mean())
        return [dict(pred_traj=p, gt_traj=g) for p, g in zip(pred, data_samples['gt_traj'])]


@METRICS.register_module(force=True)
class ToyL2Metric(BaseMetric):
    """Mean L2 error over all steps (``toy/L2``) and at the last step (``toy/L2_3s``)."""

    default_prefix = 'toy'

    def process(self, data_batch, data_samples: Sequence[Dict]) -> None:
        for sample in data_samples:
            err = (sample['pred_traj'] - sample['gt_traj']).norm(dim=-1)
            self.results.append((err.mean().item(), err[-1].item()))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        arr = np.asarray(results)
        return dict(L2=float(arr[:, 0].mean()), L2_3s=float(arr[:, 1].mean()))


def toy_config(work_dir: str, max_iters: int = 4, interval: int = 2, batch_size: int = 4) -> Dict:
    """A complete iteration-based config for the toy task (uses the repo's _base_ files)."""
    loader = dict(
        batch_size=batch_size,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='default_collate'),
    )
    return dict(
        _base_=[
            osp.join(REPO, 'configs/_base_/default_runtime.py'),
            osp.join(REPO, 'configs/_base_/schedules/adamw_iter_1k.py'),
        ],
        custom_imports=dict(imports=['toy_modules'], allow_failed_imports=False),
        work_dir=work_dir,
        model=dict(type='ToyPlanner'),
        train_dataloader=dict(dataset=dict(type='ToyTrajDataset', num_samples=16), **loader),
        val_dataloader=dict(
            dataset=dict(type='ToyTrajDataset', num_samples=8, seed=1),
            **dict(loader, sampler=dict(type='DefaultSampler', shuffle=False)),
        ),
        test_dataloader=dict(
            dataset=dict(type='ToyTrajDataset', num_samples=8, seed=1),
            **dict(loader, sampler=dict(type='DefaultSampler', shuffle=False)),
        ),
        val_evaluator=dict(type='ToyL2Metric'),
        test_evaluator=dict(type='ToyL2Metric'),
        train_cfg=dict(max_iters=max_iters, val_interval=max_iters),
        param_scheduler=[dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0, end=max_iters)],
        optim_wrapper=dict(optimizer=dict(lr=1e-2)),
        default_hooks=dict(
            logger=dict(interval=1), checkpoint=dict(by_epoch=False, interval=interval, max_keep_ckpts=5)
        ),
        log_processor=dict(by_epoch=False),
        randomness=dict(seed=0),
    )


def write_toy_config(path: str, work_dir: str, **kwargs) -> str:
    """Write :func:`toy_config` as a python config file and return its path."""
    with open(path, 'w') as f:
        for key, value in toy_config(work_dir, **kwargs).items():
            f.write(f'{key} = {value!r}\n')
    return path
