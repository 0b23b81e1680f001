# Copyright (c) mmautomot contributors. All rights reserved.
"""Latency of DriveMoE inference: one routed view vs all views, prefix-cache reuse vs recomputation."""

import copy
import statistics
import time
from typing import Callable, Dict, Tuple

import torch

from mmautomot.registry import MODELS


def demo_inputs(num_views: int = 5, img_size: Tuple[int, int] = (224, 224), horizon: int = 10, seed: int = 0) -> dict:
    """A batch-1 input dict (0-255 images: 2 front-history frames, ``num_views`` candidate views)."""
    g = torch.Generator().manual_seed(seed)
    h, w = img_size
    return dict(
        img_hist=torch.randint(0, 256, (1, 2, 3, h, w), dtype=torch.uint8, generator=g),
        imgs=torch.randint(0, 256, (1, num_views, 3, h, w), generator=g).float(),
        ego_status=torch.tensor([[5.0, 0.0, 0.0, 0.0]]),
        ego_hist_trajs=torch.randn(1, 4, 2, generator=g),
        target_point=torch.tensor([[30.0, 5.0]]),
        command=torch.tensor([3]),
    )


def fixed_views_model_cfg(model_cfg: dict) -> dict:
    """The Drive-pi0 counterpart of a DriveMoE config: same VLM and AE, every candidate view always encoded."""
    cfg = copy.deepcopy(model_cfg)
    views = list(cfg.pop('candidate_views', range(5)))
    for key in (
        'camera_router',
        'share_action_routing',
        'router_supervision',
        'camera_loss',
        'action_router_loss',
        'aux_loss_weight',
        'view_teacher_forcing',
    ):
        cfg.pop(key, None)
    cfg.update(type='DrivePi0', extra_views=views)
    return cfg


def _median_ms(fn: Callable[[], object], iters: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _count_images(model, inputs: dict, noise: torch.Tensor):
    """One ``sample_actions`` call; returns (its output, images through the vision encoder)."""
    counts = []
    hook = model.vlm.core.model.visual.register_forward_pre_hook(
        lambda m, a, k: counts.append(int((k['grid_thw'] if 'grid_thw' in k else a[1]).shape[0])), with_kwargs=True
    )
    try:
        out = model.sample_actions(inputs, noise=noise)
    finally:
        hook.remove()
    return out, sum(counts)


@torch.no_grad()
def benchmark_drivemoe(
    model_cfg: dict, iters: int = 5, warmup: int = 1, img_size=(224, 224), seed: int = 0
) -> Dict[str, object]:
    """Build the DriveMoE model and its all-views counterpart (random weights) and time batch-1 inference.

    Returns:
        dict: ``routed_ms`` (front history + the routed view), ``all_views_ms`` (front history + every
        candidate view), ``views_speedup`` = all / routed, ``images_routed`` / ``images_all_views`` (images
        through the vision encoder), ``cached_ms`` (prefix once, N flow steps over the read-only cache),
        ``recompute_ms`` (the prefix recomputed at every flow step), ``cache_speedup`` = recompute / cached,
        ``flow_steps``, ``routed_breakdown_ms`` (prefix, flow) and the parameter counts.
    """
    torch.manual_seed(seed)
    moe = MODELS.build(copy.deepcopy(model_cfg)).eval()
    torch.manual_seed(seed)
    fixed = MODELS.build(fixed_views_model_cfg(model_cfg)).eval()
    n_views = len(moe.candidate_views)
    inputs = demo_inputs(n_views, img_size, moe.head.horizon, seed)
    noise = torch.randn(1, moe.head.horizon, moe.head.action_dim, generator=torch.Generator().manual_seed(seed))
    out, images_routed = _count_images(moe, inputs, noise)
    _, images_all = _count_images(fixed, inputs, noise)
    res = dict(
        flow_steps=out['flow_steps'],
        images_routed=images_routed,
        images_all_views=images_all,
        routed_view=int(out['extras']['camera_index'][0]),
        routed_breakdown_ms=out['timings_ms'],
    )
    res['routed_ms'] = _median_ms(lambda: moe.sample_actions(inputs, noise=noise), iters, warmup)
    res['all_views_ms'] = _median_ms(lambda: fixed.sample_actions(inputs, noise=noise), iters, warmup)
    res['views_speedup'] = res['all_views_ms'] / res['routed_ms']
    res['cached_ms'] = res['routed_ms']
    res['recompute_ms'] = _median_ms(
        lambda: moe.sample_actions(inputs, noise=noise, recompute_prefix=True), iters, warmup
    )
    res['cache_speedup'] = res['recompute_ms'] / res['cached_ms']
    res['params'] = moe.count_params()
    res.update(iters=iters, warmup=warmup, img_size=list(img_size), batch_size=1, threads=torch.get_num_threads())
    return res
