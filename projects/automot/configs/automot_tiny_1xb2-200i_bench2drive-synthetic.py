# Tiny AutoMoT on Bench2Drive-layout routes (synthetic by default):
#   python tools/bench2drive/make_synthetic_routes.py --out data/bench2drive-synthetic --routes 3
#   python tools/create_data.py bench2drive --root-path data/bench2drive-synthetic \
#       --out-dir data/bench2drive-synthetic --val-ratio 0.34
# Same model as automot_tiny_1xb2-200i_nuscenes-e2e.py; CARLA LiDAR (left-handed) is flipped into the ego frame by
# LoadCarlaPoints, and the route target point is a legitimate input here (it comes from the route planner,
# not from the GT future as on nuScenes). The 6-way CARLA command uses the model's 6-command vocabulary.
_base_ = ['./automot_tiny_1xb2-200i_nuscenes-e2e.py']

dataset_type = 'Bench2DriveE2EDataset'  # PDMLiteE2EDataset for PDM-Lite-layout routes
data_root = 'data/bench2drive-synthetic/'
b2d_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=2, img_size=(128, 64)),
    dict(type='LoadMultiViewImages', cam_names=['CAM_FRONT'], img_size=(128, 64)),
    dict(type='LoadCarlaPoints', num_feats=4, to_ego=True, max_points=4096),
    dict(type='BuildPlanningTargets'),
    dict(type='ProcessVLMInputs', ue={{_base_.ue}}),
    dict(type='PackDrivingInputs'),
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
# Closed loop (mmautomot.apis.Driver): the converter spaces the UE history 0.5 s apart, i.e. 10 ticks at 20 Hz.
ue_hist_stride = 10
