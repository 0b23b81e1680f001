# The tiny AutoMoT on the built-in synthetic nuScenes data (`tools/misc/make_synthetic_nuscenes.py` +
# `tools/create_data.py nuscenes`): the README demo's model. Same model as automot_tiny_1xb2-200i_nuscenes-e2e.py,
# trained a little longer (600 iterations of batch 4, a few minutes on 2 CPU cores).
_base_ = ['./automot_tiny_1xb2-200i_nuscenes-e2e.py']

data_root = 'data/nuscenes-synthetic/'
train_dataloader = dict(batch_size=4, dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader

max_iters = 600
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min_ratio=0.01, by_epoch=False, begin=0, end=max_iters),
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters), logger=dict(interval=50))
