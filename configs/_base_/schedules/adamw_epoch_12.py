# Epoch-based AdamW schedule for paper-scale runs: 12 epochs, linear warm-up over the first
# 500 iterations, then cosine decay to 1e-3 of the base learning rate (per iteration).
max_epochs = 12

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=dict(max_norm=35.0, norm_type=2),
)

param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min_ratio=1e-3,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]

# Linear LR scaling with `--auto-scale-lr`: 8 GPUs x 1 sample in the reference setting.
auto_scale_lr = dict(enable=False, base_batch_size=8)
