# Copyright (c) mmautomot contributors. All rights reserved.
"""The VLM-expert swap: a tiny AutoMoT whose UE is PaliGemma trains through ``tools/train.py`` and tests
through ``tools/test.py`` (subprocesses, CPU, a few iterations); with a PaliGemma or an InternVL UE its
asynchronous path (UE tick + cached AE tick) equals the joint pass."""

import importlib.util
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CONFIGS = {
    family: osp.join(REPO, 'projects', 'automot', 'configs', f'automot_{family}-tiny_1xb2-200i_nuscenes-e2e.py')
    for family in ('paligemma', 'internvl')
}
CONFIG = CONFIGS['paligemma']


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO, MPLBACKEND='Agg', OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f'{" ".join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    return proc.stdout + proc.stderr


def _tiny_dataset(root):
    spec = importlib.util.spec_from_file_location('_tiny_e2e', osp.join(REPO, 'tests', 'test_datasets', 'conftest.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build_tiny_e2e(str(root), num_samples=4)


def test_paligemma_automot_trains_and_tests_through_tools(tmp_path):
    data = tmp_path / 'data'
    ann = _tiny_dataset(data)
    opts = [
        f'{s}_dataloader.dataset.{k}={v}'
        for s in ('train', 'val', 'test')
        for k, v in (('data_root', str(data)), ('ann_file', ann))
    ]
    opts.append('default_hooks.logger.interval=1')
    work = str(tmp_path / 'work')
    log = _run(
        [
            osp.join(REPO, 'tools', 'train.py'),
            CONFIG,
            '--work-dir',
            work,
            '--cfg-options',
            *opts,
            'train_cfg.max_iters=3',
            'train_cfg.val_interval=3',
            'default_hooks.checkpoint.interval=3',
            'param_scheduler=[]',
        ],
        cwd=str(tmp_path),
    )
    assert 'Iter(train) [3/3]' in log
    ckpt = torch.load(osp.join(work, 'iter_3.pth'), weights_only=True)
    assert 'PaliGemmaUnderstandingExpert' in ckpt['meta']['cfg']
    state = ckpt['state_dict']
    assert 'mot.ue.hf.model.language_model.layers.0.self_attn.q_proj.weight' in state
    assert state['mot.ae_layers.0.self_attn.k_proj.weight'].shape == (16, 48)  # 1 KV head x 16, AE width 48
    _run(
        [
            osp.join(REPO, 'tools', 'test.py'),
            CONFIG,
            osp.join(work, 'iter_3.pth'),
            '--work-dir',
            str(tmp_path / 'test'),
            '--cfg-options',
            *opts,
        ],
        cwd=str(tmp_path),
    )
    with open(tmp_path / 'test' / 'test_metrics.json') as f:
        metrics = json.load(f)
    assert 'stp3/L2_avg' in metrics and all(math.isfinite(v) for v in metrics.values())


@pytest.mark.parametrize('family', sorted(CONFIGS))
def test_swapped_automot_async_equals_joint(family):
    from mmengine.config import Config

    import projects.automot.automot  # noqa: F401
    from mmautomot.registry import MODELS

    cfg = Config.fromfile(CONFIGS[family]).model.to_dict()
    cfg.pop('data_preprocessor')
    cfg['bev_encoder']['bev'] = dict(x_range=(-8.0, 8.0), y_range=(-8.0, 8.0), resolution=0.5)
    torch.manual_seed(0)
    model = MODELS.build(cfg).eval()
    g = torch.Generator().manual_seed(0)
    inputs = dict(
        img_hist=torch.randint(0, 256, (2, 2, 3, 64, 128), dtype=torch.uint8, generator=g),
        imgs=torch.randn(2, 1, 3, 64, 128, generator=g),
        points=[torch.randn(50, 4, generator=g) for _ in range(2)],
        target_point=torch.randn(2, 2, generator=g),
        ego_status=torch.rand(2, 4, generator=g) * 10,
        command=torch.tensor([0, 2]),
    )
    with torch.no_grad():
        joint = model.joint(inputs)
        tick = model.ae_tick(inputs, model.ue_tick(inputs))
    for k in ('meta_action_logits', 'path', 'waypoints'):
        torch.testing.assert_close(tick[k], joint[k], atol=1e-5, rtol=1e-5)
