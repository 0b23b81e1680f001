# Runtime settings shared by every mmautomot config.
default_scope = 'mmautomot'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Schedules override `interval` / `by_epoch` to match their train loop.
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # BEV + front-camera plots of the first samples of every validation / test run, to the visualizer's
    # backends (TensorBoard: `tensorboard --logdir <work_dir>`); `tools/test.py --show-dir DIR` writes PNGs.
    visualization=dict(type='PlanningVisualizationHook', draw=True, max_samples=8),
    # Testing, resuming and `load_from` fail on missing / unexpected / mismatched keys (listed in the
    # error). `partial_load_from=True` loads pretrained parts in training (the rest is logged).
    checkpoint_check=dict(type='CheckpointCheckHook', partial_load_from=False),
    # Logs the count of training samples skipped with a dataset's on_bad_sample='skip' (each epoch).
    bad_samples=dict(type='BadSampleHook'),
)

# A fixed default seed: every run is reproducible (MMEngine draws a random one when unset).
# Override with `--cfg-options randomness.seed=N`; `randomness.deterministic=True` for cuDNN determinism.
randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)

# `dist_cfg.backend='nccl'` is right on GPUs. On a machine without CUDA, tools/train.py and
# tools/test.py (via mmautomot.engine.prepare_dist_env) switch it to 'gloo', create the process
# group themselves and drop DDP's `device_ids`, so `tools/dist_train.sh CONFIG 2` also runs on CPU.
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='DrivingLocalVisualizer', vis_backends=vis_backends, name='visualizer')

log_level = 'INFO'
load_from = None
resume = False
