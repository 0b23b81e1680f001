# Tiny Drive-pi0 (random weights, byte-level tokenizer) on the synthetic nuScenes data; CPU in minutes.
# VLM family = a config choice: `vlm` below (tiny Qwen3-VL here; see the README for the PaliGemma switch).
# The AE has the VLM's layer count and head geometry (4 heads / 2 KV / 16), its own width 48 / FFN 96.
# Actions: 6 waypoints at 0.5 s (the dataset's planning.fut_steps) as residuals over constant velocity,
# 10 Euler flow steps over the read-only prefix cache at inference.
_base_ = [
    './_base_/drivemoe_nuscenes_tiny_data.py',
    '../../../configs/_base_/default_runtime.py',
    '../../../configs/_base_/schedules/adamw_iter_1k.py',
]
custom_imports = dict(imports=['projects.drivemoe.drivemoe'], allow_failed_imports=False)
default_scope = 'mmautomot'

# the VLM is trained with the action expert (the released recipe: train_vlm=True)
vlm = dict(
    type='Qwen3VLUnderstandingExpert',
    preset='tiny',
    image_size=(64, 128),
    num_frames=2,
    freeze=False,
    max_new_tokens=16,
)

# metres per normalised unit at each of the 6 steps (x, y): about the RMS of the residual over constant velocity
# on the synthetic training data (it grows ~ quadratically with the horizon: accelerations)
residual_scale = [(0.15, 0.12), (0.6, 0.45), (1.3, 0.9), (2.2, 1.6), (3.3, 2.4), (4.6, 3.3)]
model = dict(
    type='DrivePi0',
    data_preprocessor=dict(type='DrivingDataPreprocessor', mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
    mot=dict(ue=vlm, ae=dict(hidden_size=48, intermediate_size=96), cache_capacity=512),
    action_head=dict(
        type='FlowMatchingActionHead',
        action_dim=2,
        horizon=6,
        time_embed_dim=32,
        num_steps=10,
        sigma_min=0.001,
        time_beta=(1.5, 1.0),
        time_max=0.999,
        action_scale=residual_scale,
    ),
    num_hist_states=4,
    num_commands=6,
    prior='constant_velocity',
    prior_step=0.5,
)

# The data base's pipeline plus the VLM prefix inputs (prompt tokens, image patches) computed in the dataloader
# workers by a weightless copy of `vlm` (ProcessVLAPrefixInputs; its extra_views / routed_views mirror the model's
# extra_views / candidate_views). A child that changes `model.mot.ue` must give the pipeline the same config.
train_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=2, img_size={{_base_.hist_size}}),
    dict(type='LoadMultiViewImages', cam_names={{_base_.routed_cams}}, img_size={{_base_.hist_size}}),
    dict(type='BuildPlanningTargets', use_target_point=False),  # GT-derived on nuScenes: not an input
    dict(type='ProcessVLAPrefixInputs', ue=vlm),
    dict(type='PackDrivingInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=train_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3))
max_iters = 300
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min_ratio=0.01, by_epoch=False, begin=0, end=max_iters),
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters), logger=dict(interval=20))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)

# Closed loop (mmautomot.apis.Driver): the VLM prefix (vision + router + VLM) runs at every control tick as in
# pi0 / DriveMoE (synchronous); the flow steps read its cache. ue_interval > 1 would reuse a prefix across ticks.
ue_refresh = dict(type='UERefreshPolicy', mode='sync')
