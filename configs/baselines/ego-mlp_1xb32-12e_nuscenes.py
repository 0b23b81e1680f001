# AD-MLP-style ego-state baseline (Zhai et al. 2023): MLP on ego history + status + command.
_base_ = ['../_base_/datasets/nuscenes_e2e.py', '../_base_/schedules/adamw_epoch_12.py', '../_base_/default_runtime.py']

# ego state only: no images or LiDAR are read
ego_pipeline = [
    dict(
        type='BuildPlanningTargets', with_prompt=False, use_target_point=False
    ),  # target point is GT-derived on nuScenes
    dict(type='PackDrivingInputs'),
]

model = dict(
    type='EgoMLPPlanner',
    hist_steps=4,
    hidden_dims=(512, 512),
    num_commands=6,
    fut_steps=6,
    plan_dt=0.5,
    loss_plan=dict(type='MaskedTrajectoryLoss', loss_type='l1', loss_weight=1.0),
    data_preprocessor=dict(type='DrivingDataPreprocessor'),
)

train_dataloader = dict(batch_size=32, dataset=dict(pipeline=ego_pipeline))
val_dataloader = dict(batch_size=32, dataset=dict(pipeline=ego_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=1e-4))
auto_scale_lr = dict(enable=False, base_batch_size=32)
