# Constant-velocity baseline on nuScenes: the honest floor for open-loop L2 / collision.
# No training and no checkpoint: the model has no weights (load_from stays None), so
# `Runner.from_cfg(cfg).test()` runs directly. tools/test.py currently insists on a checkpoint
# argument (see the dataset/baselines report: make it optional for parameter-free models).
_base_ = ['../_base_/datasets/nuscenes_e2e.py', '../_base_/default_runtime.py']

# ego state only: no images or LiDAR are read
ego_pipeline = [
    dict(
        type='BuildPlanningTargets', with_prompt=False, use_target_point=False
    ),  # target point is GT-derived on nuScenes
    dict(type='PackDrivingInputs'),
]

model = dict(
    type='ConstantVelocityPlanner',
    velocity_source='status',  # speed along +x from ego_status; 'history' uses ego_hist_trajs
    use_yaw_rate=False,
    fut_steps=6,
    plan_dt=0.5,
    data_preprocessor=dict(type='DrivingDataPreprocessor'),
)

train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
val_dataloader = dict(batch_size=32, dataset=dict(pipeline=ego_pipeline))
test_dataloader = val_dataloader
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
