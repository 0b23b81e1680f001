# Tiny AutoMoT (random weights, byte-level tokenizer): trains on a 2-core CPU in minutes.
# Same structure as the paper model: tiny Qwen3-VL UE (3 layers, vision + 3 DeepStack levels), AE of 3
# layers with the UE's head geometry (4 heads / 2 KV / 16), paper token counts (64 BEV, 2 target point,
# 1 speed, 8 decision, 20 route, 6 waypoint).
_base_ = [
    './_base_/nuscenes_e2e_automot.py',
    '../../../configs/_base_/default_runtime.py',
    '../../../configs/_base_/schedules/adamw_iter_1k.py',
]
custom_imports = dict(imports=['projects.automot.automot'], allow_failed_imports=False)
default_scope = 'mmautomot'

# The UE config, shared by the model and the pipeline's ProcessVLMInputs (one processor, built from it).
ue = dict(
    type='Qwen3VLUnderstandingExpert',
    preset='tiny',
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
        ae=dict(hidden_size=48, intermediate_size=96),
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
        out_channels=32,
    ),
    tokens=dict(
        num_bev_tokens=64,
        num_target_tokens=2,
        num_speed_tokens=1,
        num_decision_queries=8,
        num_route_queries=20,
        num_waypoint_queries=6,
    ),
    meta_action_head=dict(type='MetaActionHead', num_horizons=3, pool_heads=2),
    path_head=dict(
        type='TrajectoryHead', num_points=20, cumulative=True, loss_weight=1.0, prior='straight', prior_step=1.0
    ),  # residual over a straight 1 m path
    traj_head=dict(
        type='TrajectoryHead', num_points=6, cumulative=True, loss_weight=1.0, prior='constant_velocity', prior_step=0.5
    ),
)  # residual over constant velocity

# Front history 2 x (128 x 64), one current front camera at 128 x 64.
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

optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_cfg = dict(max_iters=200, val_interval=100)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=200, eta_min_ratio=0.01, by_epoch=False, begin=0, end=200),
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=100), logger=dict(interval=10))
log_processor = dict(by_epoch=False)

# UE refresh policy (mmautomot.apis.Driver): UE every 2nd tick, cache at most 4 ticks old; mode 'sync' (AutoMoT-S),
# 'inline' (UE in the control thread) or 'background' (UE in a worker thread, second cache, atomic swap).
ue_refresh = dict(type='UERefreshPolicy', mode='inline', ue_interval=2, max_cache_age=4, on_stale='refresh')
