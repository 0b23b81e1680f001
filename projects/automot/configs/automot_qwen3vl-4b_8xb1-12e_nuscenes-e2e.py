# AutoMoT at paper scale in the released layout and recipe (_base_/released_recipe.py): UE = Qwen3-VL-4B-Instruct
# (4.44B, frozen incl. its ViT, loaded from a local folder), AE 1.64B (36 layers at the UE's width 2560, 16 query
# / 4 KV heads of 80 zero-padded into the UE's 32 x 128 slots, SwiGLU 4864), released tokens and heads,
# TransFuser++-style BEV encoder (RegNetY-032, 1512-channel BEV feature -> 64 tokens), 4 front frames at
# 512 x 256. The other AE layout (own width 1536 / FFN 6144 with the UE's head geometry, 1.59B) is one line:
# `model.mot.ae=dict(_delete_=True, hidden_size=1536, intermediate_size=6144)` (plus the AutoMoTActionTokens /
# MetaActionHead / TrajectoryHead heads of automot_small_1xb4-12e_nuscenes-e2e.py). FSDP + bf16 for GPU clusters:
#   tools/dist_train.sh projects/automot/configs/automot_qwen3vl-4b_8xb1-12e_nuscenes-e2e.py 8
# The model also builds on the meta device (`with torch.device('meta'): MODELS.build(cfg.model)`) for
# parameter counting / FSDP deferred init; the UE structure then comes from `preset='4b'`
# (mmautomot.models.vlm.presets) and no weights are read.
_base_ = [
    './_base_/nuscenes_e2e_automot.py',
    '../../../configs/_base_/default_runtime.py',
    '../../../configs/_base_/schedules/adamw_epoch_12.py',
    './_base_/released_recipe.py',
]
custom_imports = dict(imports=['projects.automot.automot'], allow_failed_imports=False)
default_scope = 'mmautomot'
build_on_meta = True  # tests/tools build this model on the meta device (no weights, no memory)

ue_pretrained = 'checkpoints/Qwen3-VL-4B-Instruct'  # local copy (config.json, *.safetensors, tokenizer)

# the UE config, shared by the model and the pipeline's ProcessVLMInputs (tokens and frame patches are computed
# in the dataloader workers by a weightless copy of this expert)
ue = dict(
    type='Qwen3VLUnderstandingExpert',
    preset='4b',
    pretrained=ue_pretrained,
    image_size=(256, 512),
    num_frames=4,
    freeze=True,
    torch_dtype='bfloat16',
    max_new_tokens=128,
)
model = dict(
    type='AutoMoT',
    data_preprocessor=dict(type='DrivingDataPreprocessor'),
    mot=dict(
        ue=ue,
        cache_capacity=1024,  # ae: the released padded layout (released_recipe.py)
        checkpoint_layers=False,
    ),  # True: activation checkpointing per joint layer (see estimate_memory.py)
    bev_encoder=dict(
        type='TransFuserBEVEncoder',
        image_backbone='regnety_032',
        lidar_backbone='regnety_032',
        num_cams=1,
        grid_size=8,
        out_channels=1512,
    ),
    # tokens / heads: released_recipe.py. Decisions are read by the UE lm_head at reasoning slots (0, 2, 4)
    # (lateral, 1 s / 2 s / 3 s) and (1, 3, 5) (longitudinal); each class is one vocabulary token given here
    # as text (resolved by the Qwen3 tokenizer at the first forward, which fails if a text is not one token).
    # The released decision vocabulary is not documented: check these against its labels before loading
    # released weights.
    meta_action_head=dict(
        decision_token_ids=dict(
            lateral=['Left', 'Slight left', 'Straight', 'Slight right', 'Right'],
            longitudinal=['Stop', 'Decelerate', 'Keep', 'Accelerate'],
        )
    ),
)

# FSDP: one unit per joint layer (UE layer i + AE layer i) plus one per vision block; bf16 compute, fp32
# gradient reduction. DeepSpeed ZeRO-3 instead: automot_qwen3vl-4b-zero3_8xb1-12e_nuscenes-e2e.py.
runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        auto_wrap_policy=dict(type='mmautomot.mot_auto_wrap_policy'),  # a unit per joint layer
        mixed_precision=dict(param_dtype='bfloat16', reduce_dtype='float32', buffer_dtype='float32'),
        use_orig_params=True,
    ),  # the frozen UE and the trainable AE share FSDP units
    state_dict_cfg='full',
)
# The released recipe: AdamW 1e-4, betas (0.9, 0.95), wd 0, clip 1.0, cosine to 2e-5 (EMA: released_recipe.py).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0),
    clip_grad=dict(max_norm=1.0, norm_type=2),
)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=12, eta_min=2e-5, by_epoch=True, begin=0, end=12, convert_to_iter_based=True),
]
train_dataloader = dict(batch_size=1, num_workers=4)
env_cfg = dict(dist_cfg=dict(backend='nccl'))

# Asynchronous closed-loop inference: UE every 2nd tick of the 20 Hz loop (released agent), cache <= 4 ticks;
# mode='background' runs the UE in a worker thread into a second cache (see UERefreshPolicy).
ue_refresh = dict(type='UERefreshPolicy', mode='inline', ue_interval=2, max_cache_age=4, on_stale='refresh')

train_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=4, img_size={{_base_.hist_size}}),
    dict(type='LoadMultiViewImages', cam_names={{_base_.cam_names}}, img_size={{_base_.cam_size}}),
    dict(type='LoadPointsInEgoFrame', load_dim=5, use_dim=4),
    dict(type='BuildPlanningTargets', use_target_point=False),  # target point is GT-derived on nuScenes
    dict(type='ProcessVLMInputs', ue=ue),
    dict(type='PackDrivingInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=train_pipeline))
test_dataloader = val_dataloader
