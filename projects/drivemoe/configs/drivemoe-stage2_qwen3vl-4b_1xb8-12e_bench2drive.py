# DriveMoE stage 2 at paper scale: stage 1 + router supervision by focal loss (gamma 2, inverse-frequency
# alpha from the released label statistics; weights camera 5, action router 5, flow 1), labels derived by
# BuildDriveMoELabels (rules in projects/drivemoe/README.md; the released camera_labels/*.json files are read
# instead when `camera_label_dir` is set). Initialise from the stage-1 checkpoint with `load_from`.
_base_ = ['./drivemoe_qwen3vl-4b_1xb8-12e_bench2drive.py']

load_from = None  # e.g. 'work_dirs/drivemoe_qwen3vl-4b_1xb8-12e_bench2drive/iter_XXXX.pth'
model = dict(
    router_supervision=True,
    view_teacher_forcing=True,  # released stage 2: the labelled view is encoded in training
    # released label counts: cameras (FL, FR, BACK, BL, BR), skills (7, DriveMoE's order in README)
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
labels = dict(type='BuildDriveMoELabels', camera_label_dir=None)
train_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=2, img_size=(224, 224)),
    dict(
        type='LoadMultiViewImages',
        cam_names=['CAM_FRONT_LEFT', 'CAM_FRONT_RIGHT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT'],
        img_size=(224, 224),
    ),
    dict(type='BuildPlanningTargets'),
    labels,
    dict(type='ProcessVLAPrefixInputs', ue={{_base_.vlm}}, routed_views=[0, 1, 2, 3, 4]),
    dict(
        type='PackDrivingInputs',
        meta_keys=(
            'sample_idx',
            'token',
            'scene_token',
            'timestamp',
            'dataset',
            'cam_names',
            'ego2global',
            'img_shape',
            'prompt',
            'command',
            'plan_dt',
            'can_bus',
            'camera_label',
            'scenario_label',
        ),
    ),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
