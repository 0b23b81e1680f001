# AutoMoT-small (~112M transformer params, random init, byte-level tokenizer): UE 83.3M (12 layers x 640,
# vision 8 x 384 with 3 DeepStack levels) = 2.88x AE 28.9M (12 layers x 384, FFN 1664), same head geometry
# (8 heads / 2 KV / 64); 4 front-camera history frames at 512 x 256; paper token counts.
_base_ = [
    './_base_/nuscenes_e2e_automot.py',
    '../../../configs/_base_/default_runtime.py',
    '../../../configs/_base_/schedules/adamw_epoch_12.py',
]
custom_imports = dict(imports=['projects.automot.automot'], allow_failed_imports=False)
default_scope = 'mmautomot'

model = dict(
    type='AutoMoT',
    data_preprocessor=dict(type='DrivingDataPreprocessor'),
    mot=dict(
        # random init: train the UE too (freeze=True only makes sense with pretrained weights)
        ue=dict(type='Qwen3VLUnderstandingExpert', preset='small', image_size=(256, 512), num_frames=4, freeze=False),
        ae=dict(hidden_size=384, intermediate_size=1664),
        cache_capacity=1024,
    ),
    bev_encoder=dict(
        type='TransFuserBEVEncoder',
        image_backbone='resnet18',
        lidar_backbone='resnet18',
        num_cams=1,
        grid_size=8,
        out_channels=256,
    ),
    tokens=dict(
        num_bev_tokens=64,
        num_target_tokens=2,
        num_speed_tokens=1,
        num_decision_queries=8,
        num_route_queries=20,
        num_waypoint_queries=6,
    ),
    meta_action_head=dict(type='MetaActionHead', num_horizons=3, pool_heads=4),
    path_head=dict(
        type='TrajectoryHead', num_points=20, cumulative=True, loss_weight=1.0, prior='straight', prior_step=1.0
    ),  # residual over a straight 1 m path
    traj_head=dict(
        type='TrajectoryHead', num_points=6, cumulative=True, loss_weight=1.0, prior='constant_velocity', prior_step=0.5
    ),
)  # residual over constant velocity

train_dataloader = dict(batch_size=4)
ue_refresh = dict(type='UERefreshPolicy', mode='inline', ue_interval=2, max_cache_age=4, on_stale='refresh')
