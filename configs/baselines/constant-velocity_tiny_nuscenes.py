# Constant-velocity baseline on the tiny synthetic data (smoke test of the data + metric path).
_base_ = ['./constant-velocity_nuscenes.py']

data_root = 'data/nuscenes-synthetic/'
ego_pipeline = [
    dict(
        type='BuildPlanningTargets', with_prompt=False, use_target_point=False
    ),  # target point is GT-derived on nuScenes
    dict(type='PackDrivingInputs'),
]
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root, pipeline=ego_pipeline)
)
test_dataloader = val_dataloader
