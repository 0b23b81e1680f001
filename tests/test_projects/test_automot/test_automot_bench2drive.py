# Copyright (c) mmautomot contributors. All rights reserved.
"""The tiny AutoMoT trains on Bench2Drive-layout data through its config (synthetic routes, CPU)."""

import os.path as osp
import sys

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmautomot.datasets.bench2drive.converter import create_bench2drive_infos
from mmautomot.datasets.bench2drive.synthetic import make_synthetic_routes
from mmautomot.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CFG = osp.join(REPO, 'projects', 'automot', 'configs', 'automot_tiny_1xb2-200i_bench2drive-synthetic.py')


def test_automot_tiny_on_bench2drive_routes(tmp_path):
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    root = str(tmp_path / 'b2d')
    make_synthetic_routes(root, 2, 0, 'bench2drive', 16)
    create_bench2drive_infos(root, root, val_ratio=0.5)
    cfg = Config.fromfile(CFG)
    cfg.train_dataloader.dataset.data_root = root
    loader = Runner.build_dataloader(cfg.train_dataloader)
    batch = next(iter(loader))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    data = model.data_preprocessor(batch, True)
    # CARLA target points are real inputs here (not withheld as on nuScenes)
    assert data['inputs']['target_point'].abs().sum() > 0
    assert data['inputs']['command'].max() < 6
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    first = None
    for _ in range(6):
        losses = model(**data, mode='loss')
        loss = sum(losses.values())
        optim.zero_grad()
        loss.backward()
        optim.step()
        first = loss.item() if first is None else first
    assert set(losses) >= {'loss_meta_lat', 'loss_meta_lon', 'loss_path', 'loss_traj'}
    assert torch.isfinite(loss) and loss.item() < first
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(batch, False), mode='predict')
    assert out[0].pred_ego_fut_trajs.shape == (6, 2) and out[0].pred_ego_path.shape == (20, 2)
