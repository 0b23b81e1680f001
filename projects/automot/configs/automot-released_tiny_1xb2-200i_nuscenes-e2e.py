# Tiny AutoMoT in the released layout and recipe (_base_/released_recipe.py) for CPU tests: tiny Qwen3-VL UE
# (3 layers, width 64, 4 heads / 2 KV of 32) and an AE of 2 query / 1 KV heads of 16 (= 64 / 4) zero-padded
# into the UE's 4 x 32 slots, SwiGLU 96; released tokens (query width 12) and heads; frozen UE; EMA weights for
# evaluation. Same data pipeline as automot_tiny_1xb2-200i_nuscenes-e2e.py.
_base_ = [
    './_base_/nuscenes_e2e_automot.py',
    '../../../configs/_base_/default_runtime.py',
    '../../../configs/_base_/schedules/adamw_iter_1k.py',
    './_base_/released_recipe.py',
]
custom_imports = dict(imports=['projects.automot.automot'], allow_failed_imports=False)
default_scope = 'mmautomot'

# the tiny Qwen3-VL preset with head size 32 (= hidden / heads: the released layout pads the AE's heads into
# the UE's slots, so the UE head size must be the hidden size over the head count)
qwen3vl_tiny_padded = dict(text_config=dict(head_dim=32, rope_parameters=dict(mrope_section=[8, 4, 4])))

# The UE config, shared by the model and the pipeline's ProcessVLMInputs (one processor, built from it).
ue = dict(
    type='Qwen3VLUnderstandingExpert',
    preset='tiny',
    config=qwen3vl_tiny_padded,
    image_size=(64, 128),
    num_frames=2,
    freeze=True,
    max_new_tokens=16,
)
model = dict(
    type='AutoMoT',
    data_preprocessor=dict(type='DrivingDataPreprocessor'),
    mot=dict(
        ue=ue,
        ae=dict(num_heads=2, num_kv_heads=1, intermediate_size=96),
        cache_capacity=512,
    ),
    bev_encoder=dict(
        type='TransFuserBEVEncoder',
        image_backbone='test_resnet',
        lidar_backbone='test_resnet',
        out_indices=(1, 2, 3, 4),
        bev=dict(x_range=(-16.0, 16.0), y_range=(-16.0, 16.0), resolution=0.5),
        num_cams=1,
        img_anchors=(2, 4),
        bev_anchors=(4, 4),
        fusion_heads=2,
        grid_size=8,
        out_channels=24,
    ),
    tokens=dict(query_dim=12, encoder_channels=(16, 32)),
    path_head=dict(hidden_channels=(32, 16)),
    traj_head=dict(hidden_channels=(32, 16)),
    # byte-level tokenizer ids of the tiny vocabulary, one per class (lateral 5, longitudinal 4)
    meta_action_head=dict(decision_token_ids=dict(lateral=[76, 108, 83, 114, 82], longitudinal=[115, 100, 107, 97])),
)

hist_size = (128, 64)
cam_size = (128, 64)
train_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=2, img_size=hist_size),
    dict(type='LoadMultiViewImages', cam_names=['CAM_FRONT'], img_size=cam_size),
    dict(type='LoadPointsInEgoFrame', load_dim=5, use_dim=4),
    dict(type='BuildPlanningTargets', use_target_point=False),  # target point is GT-derived on nuScenes
    dict(type='ProcessVLMInputs', ue=ue),  # UE prompt tokens and frame patches, in the dataloader workers
    dict(type='PackDrivingInputs'),
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(pipeline=train_pipeline))
test_dataloader = val_dataloader

# The released recipe (AdamW 1e-4, betas (0.9, 0.95), wd 0, clip 1.0, cosine to 2e-5; EMA from the recipe).
max_iters = 200
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0),
    clip_grad=dict(max_norm=1.0, norm_type=2),
)
train_cfg = dict(max_iters=max_iters, val_interval=100)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min=2e-5, by_epoch=False, begin=0, end=max_iters)
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=100), logger=dict(interval=10))
log_processor = dict(by_epoch=False)

ue_refresh = dict(type='UERefreshPolicy', mode='inline', ue_interval=2, max_cache_age=4, on_stale='refresh')
