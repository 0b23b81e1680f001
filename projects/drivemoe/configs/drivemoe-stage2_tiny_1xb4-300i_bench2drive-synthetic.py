# Tiny DriveMoE stage 2 on Bench2Drive-layout routes: stage 1 + router supervision by focal loss (gamma 2,
# weights camera 5, action router 5, flow 1), labels from BuildDriveMoELabels' rules (or the released
# camera_labels/*.json files with camera_label_dir=...). alpha: inverse class frequency of the released labels
# (class_counts); recount on your own labels. Start from the stage-1 checkpoint:
#   python tools/train.py projects/drivemoe/configs/drivemoe-stage2_tiny_1xb4-300i_bench2drive-synthetic.py \
#       --cfg-options load_from=work_dirs/drivemoe_tiny_1xb4-300i_bench2drive-synthetic/iter_300.pth
_base_ = ['./drivemoe_tiny_1xb4-300i_bench2drive-synthetic.py']

model = dict(
    router_supervision=True,
    view_teacher_forcing=True,  # released stage 2: the labelled view is encoded in training
    camera_loss=dict(
        type='SoftmaxFocalLoss', gamma=2.0, loss_weight=5.0, class_counts=[35105, 8865, 161717, 13671, 5990]
    ),
    action_router_loss=dict(
        type='SoftmaxFocalLoss',
        gamma=2.0,
        loss_weight=5.0,
        class_counts=[13304, 1036, 29921, 12064, 5200, 45332, 118491],
    ),
)
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
    dict(type='BuildDriveMoELabels', camera_label_dir=None, scenario_label_dir=None),
    dict(type='ProcessVLAPrefixInputs', ue={{_base_.vlm}}, routed_views=[0, 1, 2, 3, 4]),
    dict(type='PackDrivingInputs', meta_keys=meta_keys),
]
train_dataloader = dict(dataset=dict(pipeline=b2d_pipeline))
val_dataloader = dict(dataset=dict(pipeline=b2d_pipeline))
test_dataloader = val_dataloader
