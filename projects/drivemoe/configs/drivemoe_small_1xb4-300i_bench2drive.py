# DriveMoE-small (random init, byte-level tokenizer) for CPU latency measurements at a realistic token layout:
# VLM = the Qwen3-VL-small geometry of AutoMoT-small (12 layers x 640, 8 heads / 2 KV / 64, vision 8 x 384),
# 224 x 224 views (49 vision tokens each, as PaliGemma's 224 px views give 256 tokens at 14 px patches),
# AE 12 layers x 384 / FFN 1536 with the action MoE (1 shared + 7 experts, top-3) in the last 4 layers.
#   python projects/drivemoe/tools/benchmark_latency.py projects/drivemoe/configs/drivemoe_small_1xb4-300i_bench2drive.py
_base_ = ['./drivemoe_tiny_1xb4-300i_bench2drive-synthetic.py']

# the UE, shared by the model and the pipeline's ProcessVLAPrefixInputs
vlm = dict(
    type='Qwen3VLUnderstandingExpert',
    preset='small',
    image_size=(224, 224),
    num_frames=2,
    freeze=False,
    max_new_tokens=16,
)
model = dict(
    mot=dict(
        ue=dict(vlm, _delete_=True),
        ae=dict(
            hidden_size=384,
            intermediate_size=1536,
            mlp_layers=[-4, -3, -2, -1],
            mlp=dict(router=dict(type='TrajectoryRouter', num_pool_tokens=10)),
        ),
        cache_capacity=1024,
    ),
    action_head=dict(horizon=10, time_embed_dim=256, action_scale=(5.0, 2.0)),
)
benchmark_inputs = dict(img_size=(224, 224))

b2d_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=2, img_size={{_base_.hist_size}}),
    dict(type='LoadMultiViewImages', cam_names={{_base_.routed_cams}}, img_size={{_base_.hist_size}}),
    dict(type='BuildPlanningTargets'),
    dict(type='ProcessVLAPrefixInputs', ue=vlm, routed_views=[0, 1, 2, 3, 4]),
    dict(type='PackDrivingInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(dataset=dict(pipeline=b2d_pipeline))
val_dataloader = dict(dataset=dict(pipeline=b2d_pipeline))
test_dataloader = val_dataloader
