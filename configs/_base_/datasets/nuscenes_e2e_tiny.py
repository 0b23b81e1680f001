# Tiny variant of nuscenes_e2e.py on the synthetic nuScenes-like data
# (`data/nuscenes-synthetic/`, written by the synthetic generator): small images, 2 cameras,
# 1 sweep, no worker processes. For smoke runs and CI on CPU.
_base_ = './nuscenes_e2e.py'

data_root = 'data/nuscenes-synthetic/'
cam_names = ['CAM_FRONT', 'CAM_BACK']
ue_hist_frames = 2
ue_img_size = (64, 32)
cam_img_size = (64, 32)
sweeps_num = 1

train_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=ue_hist_frames, img_size=ue_img_size),
    dict(type='LoadMultiViewImages', cam_names=cam_names, img_size=cam_img_size),
    dict(type='LoadPointsInEgoFrame', load_dim=5, use_dim=4, sweeps_num=sweeps_num),
    dict(type='BuildPlanningTargets', use_target_point=False),  # target point is GT-derived on nuScenes
    dict(type='PackDrivingInputs'),
]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root, pipeline=train_pipeline)
)
val_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root, pipeline=test_pipeline)
)
test_dataloader = val_dataloader
