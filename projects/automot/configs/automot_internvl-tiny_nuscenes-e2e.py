# The tiny AutoMoT with an InternVL understanding expert (InternViT 2 x 32 on 32 x 32 frames, pixel shuffle
# -> 4 tokens per frame, Qwen2 text 3 x 64 with 4 heads / 2 KV / 16): the VLM-expert swap is this one line.
_base_ = ['./automot_tiny_nuscenes-e2e.py']

model = dict(
    mot=dict(
        ue=dict(
            _delete_=True,
            type='InternVLUnderstandingExpert',
            preset='tiny',
            num_frames=2,
            freeze=True,
            max_new_tokens=16,
        )
    )
)
