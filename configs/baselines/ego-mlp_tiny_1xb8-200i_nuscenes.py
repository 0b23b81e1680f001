# EgoMLP baseline on the tiny synthetic data: a short iteration-based run on CPU.
_base_ = [
    '../_base_/datasets/nuscenes_e2e_tiny.py',
    '../_base_/schedules/adamw_iter_1k.py',
    '../_base_/default_runtime.py',
]

ego_pipeline = [
    dict(
        type='BuildPlanningTargets', with_prompt=False, use_target_point=False
    ),  # target point is GT-derived on nuScenes
    dict(type='PackDrivingInputs'),
]

model = dict(
    type='EgoMLPPlanner',
    hist_steps=4,
    hidden_dims=(64, 64),
    num_commands=6,
    fut_steps=6,
    plan_dt=0.5,
    loss_plan=dict(type='MaskedTrajectoryLoss', loss_type='l1'),
    data_preprocessor=dict(type='DrivingDataPreprocessor'),
)

train_dataloader = dict(batch_size=8, dataset=dict(pipeline=ego_pipeline))
val_dataloader = dict(batch_size=8, dataset=dict(pipeline=ego_pipeline))
test_dataloader = val_dataloader

max_iters = 200
train_cfg = dict(max_iters=max_iters, val_interval=100)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min_ratio=0.01, by_epoch=False, begin=0, end=max_iters),
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(by_epoch=False, interval=100))
log_processor = dict(by_epoch=False)
