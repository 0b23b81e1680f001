# AutoMoT at paper scale: UE = Qwen3-VL-4B-Instruct (4.44B, frozen, loaded from a local folder), AE 1.59B
# (36 layers, hidden 1536, FFN 6144, 32 heads / 8 KV / 128), TransFuser++-style BEV encoder (RegNetY-032,
# 1512-channel BEV feature -> 64 tokens), 4 front frames at 512 x 256. FSDP + bf16 for GPU clusters:
#   tools/dist_train.sh projects/automot/configs/automot_qwen3vl-4b_nuscenes-e2e.py 8
# The model also builds on the meta device (`with torch.device('meta'): MODELS.build(cfg.model)`) for
# parameter counting / FSDP deferred init; the UE structure then comes from `preset='4b'`
# (mmautomot.models.vlm.presets) and no weights are read.
_base_ = [
    './_base_/nuscenes_e2e_automot.py',
    '../../../configs/_base_/default_runtime.py',
    '../../../configs/_base_/schedules/adamw_epoch_12.py',
]
custom_imports = dict(imports=['projects.automot.automot'], allow_failed_imports=False)
default_scope = 'mmautomot'
build_on_meta = True  # tests/tools build this model on the meta device (no weights, no memory)

ue_pretrained = 'checkpoints/Qwen3-VL-4B-Instruct'  # local copy (config.json, *.safetensors, tokenizer)

model = dict(
    type='AutoMoT',
    data_preprocessor=dict(type='DrivingDataPreprocessor'),
    mot=dict(
        ue=dict(type='Qwen3VLUnderstandingExpert', preset='4b', pretrained=ue_pretrained,
                image_size=(256, 512), num_frames=4, freeze=True, torch_dtype='bfloat16', max_new_tokens=128),
        ae=dict(hidden_size=1536, intermediate_size=6144),
        cache_capacity=1024),
    bev_encoder=dict(
        type='TransFuserBEVEncoder', image_backbone='regnety_032', lidar_backbone='regnety_032', num_cams=1,
        grid_size=8, out_channels=1512),
    tokens=dict(num_bev_tokens=64, num_target_tokens=2, num_speed_tokens=1, num_decision_queries=8,
                num_route_queries=20, num_waypoint_queries=6),
    meta_action_head=dict(type='MetaActionHead', num_horizons=3, pool_heads=8),
    path_head=dict(type='TrajectoryHead', num_points=20, cumulative=True, loss_weight=1.0),
    traj_head=dict(type='TrajectoryHead', num_points=6, cumulative=True, loss_weight=1.0))

runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        auto_wrap_policy=dict(type='mmautomot.models.mot.fsdp.mot_auto_wrap_policy', min_num_params=1_000_000),
        mixed_precision=dict(param_dtype='bfloat16', reduce_dtype='float32', buffer_dtype='float32'),
        use_orig_params=True),  # the frozen UE and the trainable AE share FSDP units
    state_dict_cfg='full')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.01),
                     clip_grad=dict(max_norm=1.0))
train_dataloader = dict(batch_size=1, num_workers=4)
env_cfg = dict(dist_cfg=dict(backend='nccl'))

# Asynchronous closed-loop inference: UE every 2nd tick of the 20 Hz loop (released agent), cache <= 4 ticks.
scheduler = dict(type='AsyncScheduler', ue_interval=2, max_cache_age=4, on_stale='refresh', synchronous=False)
