# Tiny nuScenes-layout data for SAMoE-VLA (synthetic by default):
#   python tools/misc/make_synthetic_nuscenes.py --out data/nuscenes-synthetic --scenes 20 --keyframes 20 \
#       --version v1.0-trainval
#   python tools/create_data.py nuscenes --root-path data/nuscenes-synthetic --out-dir data/nuscenes-synthetic \
#       --version v1.0-trainval
# Inputs of the BEV encoder: the front camera (128 x 64) and the keyframe LiDAR. A free-text `instruction`
# (LangAuto-style) travels in the metainfo when present; without one the model uses the command's sentence.
_base_ = ['../../../../configs/_base_/datasets/nuscenes_e2e_tiny.py']

cam_size = (128, 64)  # (W, H)
# PackDrivingInputs' default meta keys + the free-text instruction
meta_keys = (
    'sample_idx',
    'token',
    'scene_token',
    'timestamp',
    'dataset',
    'cam_names',
    'lidar2ego',
    'ego2global',
    'cam2ego',
    'cam_intrinsics',
    'img_shape',
    'ori_img_shape',
    'prompt',
    'command',
    'plan_dt',
    'path_spacing',
    'can_bus',
    'instruction',
)
train_pipeline = [
    dict(type='LoadMultiViewImages', cam_names=['CAM_FRONT'], img_size=cam_size),
    dict(type='LoadPointsInEgoFrame', load_dim=5, use_dim=4),
    dict(type='BuildPlanningTargets', use_target_point=False),  # target point is GT-derived on nuScenes
    dict(type='PackDrivingInputs', meta_keys=meta_keys),
]
test_pipeline = train_pipeline
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
