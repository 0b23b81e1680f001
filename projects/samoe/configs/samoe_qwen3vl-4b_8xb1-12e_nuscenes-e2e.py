# SAMoE-VLA at paper scale (our reading: the paper names no sizes we could verify; see the README).
# World-Language expert: the Qwen3-VL-4B text decoder (36 x 2560, 32 heads / 8 KV / 128; loaded from a local
# folder); Planning expert: 36 layers of width 1024 with the VLM's head geometry, every FFN an SA-MoE of 4
# SwiGLU experts of width 2048 routed by the deformable scene encoder (256-d scene vector, 16 queries);
# BEV: TransFuser++-style encoder (RegNetY-032, 1512 channels -> 8 x 8 tokens); 16 soft prompts.
# Builds on the meta device (`with torch.device('meta'): MODELS.build(cfg.model)`); the test reports the
# parameter counts. FSDP + bf16 for GPU clusters: tools/dist_train.sh <this file> 8
_base_ = [
    '../../automot/configs/_base_/nuscenes_e2e_automot.py',
    '../../../configs/_base_/default_runtime.py',
    '../../../configs/_base_/schedules/adamw_epoch_12.py',
]
custom_imports = dict(imports=['projects.samoe.samoe'], allow_failed_imports=False)
default_scope = 'mmautomot'
build_on_meta = True

vlm_pretrained = 'checkpoints/Qwen3-VL-4B-Instruct'  # local copy (config.json, *.safetensors, tokenizer)

# the VLM, shared by the model and the pipeline's TokenizeInstruction
vlm = dict(
    type='Qwen3VLUnderstandingExpert',
    preset='4b',
    pretrained=vlm_pretrained,
    image_size=(256, 512),
    num_frames=1,
    freeze=False,
    torch_dtype='bfloat16',
    max_new_tokens=64,
)
model = dict(
    type='SAMoEVLA',
    data_preprocessor=dict(type='DrivingDataPreprocessor'),
    vlm=vlm,
    bev_encoder=dict(
        type='TransFuserBEVEncoder',
        image_backbone='regnety_032',
        lidar_backbone='regnety_032',
        num_cams=1,
        grid_size=8,
        out_channels=1512,
    ),
    scene_encoder=dict(embed_dims=256, num_queries=16, num_heads=8, num_points=4, num_layers=2, impl='auto'),
    world=dict(num_soft_prompts=16, max_instruction_tokens=64),
    planner=dict(hidden_size=1024, intermediate_size=2048),
    moe=dict(num_experts=4, routing='scene', mode='merge'),
    action_head=dict(
        type='FlowMatchingActionHead',
        action_dim=2,
        horizon=6,
        time_embed_dim=256,
        num_steps=10,
        action_scale=(2.0, 1.0),
    ),
    num_hist_states=4,
    num_commands=6,
    prior_step=0.5,
)

runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        auto_wrap_policy=dict(type='mmautomot.models.mot.fsdp.mot_auto_wrap_policy', min_num_params=1_000_000),
        mixed_precision=dict(param_dtype='bfloat16', reduce_dtype='float32', buffer_dtype='float32'),
        use_orig_params=True,
    ),
    state_dict_cfg='full',
)
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.01), clip_grad=dict(max_norm=1.0)
)
env_cfg = dict(dist_cfg=dict(backend='nccl'))

# the AutoMoT data base's pipeline plus the instruction tokens (computed in the dataloader workers)
train_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=4, img_size={{_base_.hist_size}}),
    dict(type='LoadMultiViewImages', cam_names={{_base_.cam_names}}, img_size={{_base_.cam_size}}),
    dict(type='LoadPointsInEgoFrame', load_dim=5, use_dim=4),
    dict(type='BuildPlanningTargets', use_target_point=False),  # target point is GT-derived on nuScenes
    dict(type='TokenizeInstruction', ue=vlm),
    dict(type='PackDrivingInputs'),
]
train_dataloader = dict(batch_size=1, num_workers=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=train_pipeline))
test_dataloader = val_dataloader
