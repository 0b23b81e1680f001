# Drive-pi0 at paper scale on the Bench2Drive rig, with the VLM family available in this branch (Qwen3-VL-4B,
# 36 layers, 32 heads / 8 KV / 128): AE width 1024, FFN 4096 (the released action expert's width), one AE layer
# per VLM layer (36 here; 18 with PaliGemma's Gemma-2B, see the README for the PaliGemma switch), proprio
# tokens, 10 action steps of 2-D waypoints, 10 Euler flow steps over the read-only prefix cache.
# Builds on the meta device for parameter counts (`build_on_meta`); training needs a GPU cluster:
#   tools/dist_train.sh projects/drivemoe/configs/drive-pi0_qwen3vl-4b_1xb8-12e_bench2drive.py 8
_base_ = [
    '../../../configs/_base_/datasets/bench2drive_e2e.py',
    '../../../configs/_base_/default_runtime.py',
    '../../../configs/_base_/schedules/adamw_epoch_12.py',
]
custom_imports = dict(imports=['projects.drivemoe.drivemoe'], allow_failed_imports=False)
default_scope = 'mmautomot'
build_on_meta = True

vlm_pretrained = 'checkpoints/Qwen3-VL-4B-Instruct'
vlm = dict(
    type='Qwen3VLUnderstandingExpert',
    preset='4b',
    pretrained=vlm_pretrained,
    image_size=(224, 224),
    num_frames=2,
    freeze=False,
    torch_dtype='bfloat16',
    max_new_tokens=64,
)

model = dict(
    type='DrivePi0',
    data_preprocessor=dict(type='DrivingDataPreprocessor', mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
    mot=dict(ue=vlm, ae=dict(hidden_size=1024, intermediate_size=4096), cache_capacity=1024),
    action_head=dict(
        type='FlowMatchingActionHead',
        action_dim=2,
        horizon=10,
        time_embed_dim=256,
        num_steps=10,
        sigma_min=0.001,
        time_beta=(1.5, 1.0),
        time_max=0.999,
        action_scale=(5.0, 2.0),
    ),
    num_hist_states=4,
    num_commands=6,
    prior='constant_velocity',
    prior_step=0.5,
)

img_size = (224, 224)
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
    dict(type='LoadFrontCamHistory', num_frames=2, img_size=img_size),
    dict(type='LoadMultiViewImages', cam_names=routed_cams, img_size=img_size),
    dict(type='BuildPlanningTargets'),
    dict(type='ProcessVLAPrefixInputs', ue=vlm),  # prompt tokens, image patches: in the dataloader workers
    dict(type='PackDrivingInputs', meta_keys=meta_keys),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=train_pipeline))
test_dataloader = val_dataloader
# released recipe: AdamW lr 5e-6 (stage 2) / cosine, no weight decay, clip 1.0, bf16
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='AdamW', lr=5e-5, weight_decay=0.0), clip_grad=dict(max_norm=1.0)
)
