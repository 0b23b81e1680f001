# nuScenes end-to-end planning data (open loop). Info pkls come from tools/create_data.py
# (format: docs/contracts.md). Every pipeline output is
# dict(inputs=dict(img_hist, imgs, points, ego_status, ego_hist_trajs, target_point, command),
#      data_samples=DrivingDataSample); images stay uint8 (the data preprocessor normalises).
dataset_type = 'NuScenesE2EDataset'
data_root = 'data/nuscenes/'
backend_args = None

cam_names = ['CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT']
ue_hist_frames = 4  # front-camera frames for the understanding expert (released agent: 4)
ue_img_size = (512, 256)  # (width, height) of the UE frames, as in the paper
cam_img_size = (704, 256)  # (width, height) of the current views for the BEV encoder
sweeps_num = 9  # keyframe + 9 past sweeps (~0.5 s of LiDAR at 20 Hz)

train_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=ue_hist_frames, img_size=ue_img_size, backend_args=backend_args),
    dict(type='LoadMultiViewImages', cam_names=cam_names, img_size=cam_img_size, backend_args=backend_args),
    dict(
        type='LoadPointsInEgoFrame',
        load_dim=5,
        use_dim=4,
        sweeps_num=sweeps_num,
        remove_close=1.0,
        backend_args=backend_args,
    ),
    dict(type='BuildPlanningTargets', use_target_point=False),  # target point is GT-derived on nuScenes
    dict(type='PackDrivingInputs'),
]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_train.pkl',
        pipeline=train_pipeline,
        test_mode=False,
        filter_invalid_future=False,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_val.pkl',
        pipeline=test_pipeline,
        test_mode=True,
        filter_invalid_future=False,
    ),
)
test_dataloader = val_dataloader

# L2 / collision on the nuScenes val split (PlanningMetric prints which protocol it used).
val_evaluator = dict(type='PlanningMetric', protocols=('stp3', 'uniad'), plan_dt=0.5)
test_evaluator = val_evaluator
