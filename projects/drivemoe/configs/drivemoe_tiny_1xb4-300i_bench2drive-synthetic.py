# Tiny DriveMoE (stage 1) on Bench2Drive-layout routes (synthetic by default):
#   python tools/bench2drive/make_synthetic_routes.py --out data/bench2drive-synthetic --routes 3
#   python tools/create_data.py bench2drive --root-path data/bench2drive-synthetic \
#       --out-dir data/bench2drive-synthetic --val-ratio 0.34
# Same model and inputs as on nuScenes; the route target point (from the route planner, not the GT future)
# is a legitimate input here: it feeds the proprio state token and the camera router's goal token.
_base_ = ['./drivemoe_tiny_1xb4-300i_nuscenes-synthetic.py']

dataset_type = 'Bench2DriveE2EDataset'
data_root = 'data/bench2drive-synthetic/'
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
b2d_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=2, img_size=hist_size),
    dict(type='LoadMultiViewImages', cam_names=routed_cams, img_size=hist_size),
    dict(type='BuildPlanningTargets'),
    dict(type='ProcessVLAPrefixInputs', ue={{_base_.vlm}}, routed_views=[0, 1, 2, 3, 4]),
    dict(type='PackDrivingInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='bench2drive_infos_train.pkl',
        pipeline=b2d_pipeline,
    )
)
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='bench2drive_infos_val.pkl',
        pipeline=b2d_pipeline,
        test_mode=True,
    )
)
test_dataloader = val_dataloader
