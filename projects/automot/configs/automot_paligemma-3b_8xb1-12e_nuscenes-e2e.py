# AutoMoT with PaliGemma-3B as the understanding expert (DriveMoE's Drive-pi0 base: SigLIP so400m/14 at 224 +
# Gemma 2B, 18 layers, 8 heads / 1 KV head / 256; ~2.92B) instead of Qwen3-VL-4B. The action expert follows
# the UE's 18 layers and head geometry at pi0's action-expert width (1024, FFN 4096; ~0.3B). Each of the 4
# history frames is 256 image tokens (1024 + prompt), hence the larger prefix cache. Everything else (data,
# BEV encoder, heads, FSDP + bf16) is the Qwen3-VL-4B config's. Builds on the meta device for counting.
_base_ = ['./automot_qwen3vl-4b_8xb1-12e_nuscenes-e2e.py']

ue_pretrained = 'checkpoints/paligemma-3b-pt-224'  # local save_pretrained folder (weights, processor, tokenizer)

ue = dict(
    type='PaliGemmaUnderstandingExpert',
    preset='paligemma-3b',
    pretrained=ue_pretrained,
    num_frames=4,
    freeze=True,
    torch_dtype='bfloat16',
    max_new_tokens=128,
)
model = dict(
    mot=dict(
        ue=dict(ue, _delete_=True),
        ae=dict(_delete_=True, hidden_size=1024, intermediate_size=4096),  # own width (not the released padding)
        cache_capacity=1280,
    )
)

train_pipeline = [  # the base pipeline with this UE's processor
    dict(type='LoadFrontCamHistory', num_frames=4, img_size={{_base_.hist_size}}),
    dict(type='LoadMultiViewImages', cam_names={{_base_.cam_names}}, img_size={{_base_.cam_size}}),
    dict(type='LoadPointsInEgoFrame', load_dim=5, use_dim=4),
    dict(type='BuildPlanningTargets', use_target_point=False),
    dict(type='ProcessVLMInputs', ue=ue),
    dict(type='PackDrivingInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=train_pipeline))
test_dataloader = val_dataloader
