# Copyright (c) mmautomot contributors. All rights reserved.
import json

import pytest

from projects.drivemoe.drivemoe.benchmark import fixed_views_model_cfg


def test_fixed_views_counterpart():
    cfg = dict(
        type='DriveMoE',
        mot=dict(),
        action_head=dict(),
        camera_router=dict(num_heads=8),
        candidate_views=[0, 1, 2, 3, 4],
        router_supervision=False,
        share_action_routing=True,
    )
    fixed = fixed_views_model_cfg(cfg)
    assert fixed['type'] == 'DrivePi0' and fixed['extra_views'] == [0, 1, 2, 3, 4]
    assert not {'camera_router', 'candidate_views', 'router_supervision'} & set(fixed)
    assert cfg['type'] == 'DriveMoE'  # the input is not modified


def test_benchmark_tool_prints_json(capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location('drivemoe_bench_tool', 'projects/drivemoe/tools/benchmark_latency.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    res = tool.main(
        [
            'projects/drivemoe/configs/drivemoe_tiny_1xb4-300i_nuscenes-synthetic.py',
            '--iters',
            '1',
            '--warmup',
            '0',
            '--cfg-options',
            'model.mot.ue.image_size=(32,64)',
        ]
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed['images_routed'] == res['images_routed'] == 3  # 2 front frames + the routed view
    assert res['images_all_views'] == 7  # 2 front frames + 5 views
    assert res['flow_steps'] == 10 and res['routed_view'] in range(5)
    for key in ('routed_ms', 'all_views_ms', 'cached_ms', 'recompute_ms'):
        assert res[key] > 0
    assert res['views_speedup'] == pytest.approx(res['all_views_ms'] / res['routed_ms'])
    assert res['cache_speedup'] == pytest.approx(res['recompute_ms'] / res['cached_ms'])
