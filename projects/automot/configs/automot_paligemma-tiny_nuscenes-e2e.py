# The tiny AutoMoT with a PaliGemma understanding expert instead of Qwen3-VL (the VLM-expert swap): one
# config line (`mot.ue`). Tiny random-weight PaliGemma (SigLIP 2 x 32 on 32 x 32 frames, Gemma 3 x 64 with
# 4 heads / 1 KV head / 16); the AE takes that head geometry. Paper scale: `preset='paligemma-3b'` with
# `pretrained='checkpoints/paligemma-3b-pt-224'` (a local save_pretrained folder with processor/tokenizer).
_base_ = ['./automot_tiny_nuscenes-e2e.py']

model = dict(
    mot=dict(
        ue=dict(
            _delete_=True,
            type='PaliGemmaUnderstandingExpert',
            preset='tiny',
            num_frames=2,
            freeze=True,
            max_new_tokens=16,
        )
    )
)
