# EgoMLP baseline (AD-MLP style, ego state + 6-way CARLA command) on tiny synthetic Bench2Drive routes:
# a short iteration-based run on CPU. Open-loop L2 / collision on the val routes as a sanity check.
_base_ = [
    '../_base_/datasets/bench2drive_e2e_tiny.py',
    '../_base_/schedules/adamw_iter_1k.py',
    '../_base_/default_runtime.py',
]

# ego state only: no images or LiDAR are read
ego_pipeline = [
    dict(type='BuildPlanningTargets', with_prompt=False),
    dict(type='PackDrivingInputs'),
]

model = dict(
    type='EgoMLPPlanner',
    hist_steps=4,
    hidden_dims=(64, 64),
    num_commands={{_base_.num_commands}},
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
