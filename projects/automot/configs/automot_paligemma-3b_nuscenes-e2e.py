# AutoMoT with PaliGemma-3B as the understanding expert (DriveMoE's Drive-pi0 base: SigLIP so400m/14 at 224 +
# Gemma 2B, 18 layers, 8 heads / 1 KV head / 256; ~2.92B) instead of Qwen3-VL-4B. The action expert follows
# the UE's 18 layers and head geometry at pi0's action-expert width (1024, FFN 4096; ~0.3B). Each of the 4
# history frames is 256 image tokens (1024 + prompt), hence the larger prefix cache. Everything else (data,
# BEV encoder, heads, FSDP + bf16) is the Qwen3-VL-4B config's. Builds on the meta device for counting.
_base_ = ['./automot_qwen3vl-4b_nuscenes-e2e.py']

ue_pretrained = 'checkpoints/paligemma-3b-pt-224'  # local save_pretrained folder (weights, processor, tokenizer)

model = dict(
    mot=dict(
        ue=dict(
            _delete_=True,
            type='PaliGemmaUnderstandingExpert',
            preset='paligemma-3b',
            pretrained=ue_pretrained,
            num_frames=4,
            freeze=True,
            torch_dtype='bfloat16',
            max_new_tokens=128,
        ),
        ae=dict(_delete_=True, hidden_size=1024, intermediate_size=4096),  # own width (not the released padding)
        cache_capacity=1280,
    )
)
