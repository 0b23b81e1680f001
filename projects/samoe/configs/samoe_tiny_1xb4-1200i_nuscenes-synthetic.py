# Tiny SAMoE-VLA (random weights, byte-level tokenizer) on the synthetic nuScenes data; trains on CPU in minutes.
# World-Language expert = the decoder of a tiny Qwen3-VL (the `vlm` below; any framework VLM expert family);
# Planning expert: 3 layers with the VLM's head geometry (4 heads / 2 KV / 16), width 48, every FFN an SA-MoE
# of 4 SwiGLU experts routed by the deformable scene encoder's BEV scene vector (soft, per layer).
# Actions: 6 waypoints at 0.5 s as residuals over constant velocity, 10 Euler flow steps over the prefix cache.
_base_ = [
    './_base_/samoe_nuscenes_tiny_data.py',
    '../../../configs/_base_/default_runtime.py',
    '../../../configs/_base_/schedules/adamw_iter_1k.py',
]
custom_imports = dict(imports=['projects.samoe.samoe'], allow_failed_imports=False)
default_scope = 'mmautomot'

# the tiny Qwen3-VL preset with a 1-block vision tower (its vision is unused: world tokens come from the BEV)
qwen3vl_tiny = dict(vision_config=dict(depth=1, deepstack_visual_indexes=[0]))

# routing ablation: 'scene' (SA-MoE) or 'token' (top-k per token); see samoe_tiny_token-routing_*.py
moe = dict(num_experts=4, routing='scene', mode='mix', top_k=2)

# the VLM, shared by the model and the pipeline's TokenizeInstruction (instruction tokens in the workers)
vlm = dict(
    type='Qwen3VLUnderstandingExpert',
    preset='tiny',
    config=qwen3vl_tiny,
    image_size=(64, 128),
    num_frames=1,
    freeze=False,
    max_new_tokens=8,
)
model = dict(
    type='SAMoEVLA',
    data_preprocessor=dict(type='DrivingDataPreprocessor'),
    vlm=vlm,
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
    scene_encoder=dict(embed_dims=32, num_queries=8, num_heads=4, num_points=4, num_layers=1, impl='auto'),
    world=dict(num_soft_prompts=4, max_instruction_tokens=48),
    planner=dict(hidden_size=48, intermediate_size=96),
    moe=moe,
    action_head=dict(
        type='FlowMatchingActionHead',
        action_dim=2,
        horizon=6,
        time_embed_dim=32,
        num_steps=10,
        sigma_min=0.001,
        time_beta=(1.5, 1.0),
        time_max=0.999,
        action_scale=(2.0, 1.0),
    ),
    num_hist_states=4,
    num_commands=6,
    prior_step=0.5,
)

train_pipeline = [
    dict(type='LoadMultiViewImages', cam_names=['CAM_FRONT'], img_size={{_base_.cam_size}}),
    dict(type='LoadPointsInEgoFrame', load_dim=5, use_dim=4),
    dict(type='BuildPlanningTargets', use_target_point=False),  # target point is GT-derived on nuScenes
    dict(type='TokenizeInstruction', ue=vlm),  # the instruction tokens, in the dataloader workers
    dict(type='PackDrivingInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=train_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3))
max_iters = 1200
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min_ratio=0.01, by_epoch=False, begin=0, end=max_iters),
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters), logger=dict(interval=20))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
