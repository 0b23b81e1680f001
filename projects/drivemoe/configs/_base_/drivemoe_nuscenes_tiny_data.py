# Tiny nuScenes-layout data for Drive-pi0 / DriveMoE (synthetic by default):
#   python tools/misc/make_synthetic_nuscenes.py --out data/nuscenes-synthetic
#   python tools/create_data.py nuscenes --root-path data/nuscenes-synthetic --out-dir data/nuscenes-synthetic \
#       --version v1.0-mini
# VLM inputs: the previous and the current front frame (img_hist, oldest first) and the 5 routable views
# (imgs, in the routers' label order FL, FR, BACK, BL, BR). No LiDAR. Images stay on the 0-255 scale (the
# VLM's own processor normalises them). camera_label / scenario_label travel in the sample metainfo when a
# label transform (BuildDriveMoELabels) adds them.
_base_ = ['../../../../configs/_base_/datasets/nuscenes_e2e_tiny.py']

hist_size = (128, 64)  # (W, H)
routed_cams = ['CAM_FRONT_LEFT', 'CAM_FRONT_RIGHT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT']
meta_keys = (
    'sample_idx',
    'token',
    'scene_token',
    'timestamp',
    'dataset',
    'cam_names',
    'lidar2ego',
    'ego2global',
    'img_shape',
    'prompt',
    'command',
    'plan_dt',
    'can_bus',
    'camera_label',
    'scenario_label',
)
train_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=2, img_size=hist_size),
    dict(type='LoadMultiViewImages', cam_names=routed_cams, img_size=hist_size),
    dict(type='BuildPlanningTargets', use_target_point=False),  # GT-derived on nuScenes: not an input
    dict(type='PackDrivingInputs', meta_keys=meta_keys),
]
test_pipeline = train_pipeline
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
