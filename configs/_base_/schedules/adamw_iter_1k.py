# Iteration-based AdamW schedule for tiny / demo runs: 1k iterations, linear warm-up then
# cosine decay, validation every 500 iterations. Shorten with e.g.
# `--cfg-options train_cfg.max_iters=20 param_scheduler.1.end=20`.
max_iters = 1000
val_interval = 500

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=dict(max_norm=1.0, norm_type=2),
)

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min_ratio=0.01, by_epoch=False, begin=0, end=max_iters),
]

# Iteration-based configs also set (a schedule cannot: mmengine refuses keys that two sibling
# _base_ files both define, and default_runtime.py owns these):
#   default_hooks = dict(checkpoint=dict(by_epoch=False, interval=500))
#   log_processor = dict(by_epoch=False)

# Linear LR scaling with `--auto-scale-lr`: lr * (GPUs * samples_per_gpu) / base_batch_size.
auto_scale_lr = dict(enable=False, base_batch_size=8)
