# DriveMoE-small (random init, byte-level tokenizer) for CPU latency measurements at a realistic token layout:
# VLM = the Qwen3-VL-small geometry of AutoMoT-small (12 layers x 640, 8 heads / 2 KV / 64, vision 8 x 384),
# 224 x 224 views (49 vision tokens each, as PaliGemma's 224 px views give 256 tokens at 14 px patches),
# AE 12 layers x 384 / FFN 1536 with the action MoE (1 shared + 7 experts, top-3) in the last 4 layers.
#   python projects/drivemoe/tools/benchmark_latency.py projects/drivemoe/configs/drivemoe_small_bench2drive.py
_base_ = ['./drivemoe_tiny_bench2drive-synthetic.py']

model = dict(
    mot=dict(
        ue=dict(preset='small', image_size=(224, 224)),
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
