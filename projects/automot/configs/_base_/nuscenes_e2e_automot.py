# nuScenes end-to-end planning data for AutoMoT: the shared nuScenes base with the released agent's inputs
# (4 front-camera frames at 512x256 for the UE; the front camera at 1024x512 and the keyframe LiDAR for the
# AE's BEV encoder). Children change the sizes by redefining the pipelines.
_base_ = ['../../../../configs/_base_/datasets/nuscenes_e2e.py']

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

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
