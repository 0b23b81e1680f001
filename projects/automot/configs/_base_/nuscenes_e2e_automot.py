# nuScenes end-to-end planning data for AutoMoT (used when configs/_base_/datasets/nuscenes_e2e.py is not
# wanted / not there). Children change `hist_size` / `cam_size` by redefining the pipelines.
dataset_type = 'NuScenesE2EDataset'
data_root = 'data/nuscenes/'
hist_size = (512, 256)  # (W, H) of the UE front-camera history frames (released agent)
cam_size = (1024, 512)  # (W, H) of the current cameras for the BEV encoder
cam_names = ['CAM_FRONT']

train_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=4, img_size=hist_size),
    dict(type='LoadMultiViewImages', cam_names=cam_names, img_size=cam_size),
    dict(type='LoadPointsInEgoFrame', load_dim=5, use_dim=4),
    dict(type='BuildPlanningTargets', use_target_point=False),  # target point is GT-derived on nuScenes
    dict(type='PackDrivingInputs'),
]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='nuscenes_infos_train.pkl',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='nuscenes_infos_val.pkl',
                 pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='PlanningMetric', protocols=('stp3', 'uniad'))
test_evaluator = val_evaluator
