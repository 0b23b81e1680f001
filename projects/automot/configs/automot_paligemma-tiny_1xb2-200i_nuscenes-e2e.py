# The tiny AutoMoT with a PaliGemma understanding expert instead of Qwen3-VL (the VLM-expert swap): one
# config line (`mot.ue`). Tiny random-weight PaliGemma (SigLIP 2 x 32 on 32 x 32 frames, Gemma 3 x 64 with
# 4 heads / 1 KV head / 16); the AE takes that head geometry. Paper scale: `preset='paligemma-3b'` with
# `pretrained='checkpoints/paligemma-3b-pt-224'` (a local save_pretrained folder with processor/tokenizer).
_base_ = ['./automot_tiny_1xb2-200i_nuscenes-e2e.py']

ue = dict(type='PaliGemmaUnderstandingExpert', preset='tiny', num_frames=2, freeze=True, max_new_tokens=16)
model = dict(mot=dict(ue=dict(ue, _delete_=True)))

# the base pipeline with this UE's processor
train_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=2, img_size={{_base_.hist_size}}),
    dict(type='LoadMultiViewImages', cam_names=['CAM_FRONT'], img_size={{_base_.cam_size}}),
    dict(type='LoadPointsInEgoFrame', load_dim=5, use_dim=4),
    dict(type='BuildPlanningTargets', use_target_point=False),
    dict(type='ProcessVLMInputs', ue=ue),
    dict(type='PackDrivingInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=train_pipeline))
test_dataloader = val_dataloader
