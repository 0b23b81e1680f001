# DriveMoE with the paper's VLM: PaliGemma-3B (SigLIP so400m/14 at 224 + Gemma 2B: 18 layers, width 2048,
# 8 heads / 1 KV / 256) as the prefix, and an action expert of width 1024 / FFN 4096 with one layer per Gemma
# layer (18; the skill MoE in the last 4). Everything else (routers, MoE, data, schedule) is the Qwen3-VL-4B
# config's. Builds on the meta device for parameter counts; `vlm_pretrained` is a local save_pretrained folder.
_base_ = ['./drivemoe_qwen3vl-4b_1xb8-12e_bench2drive.py']

vlm_pretrained = 'checkpoints/paligemma-3b-pt-224'
# the VLM, shared by the model and the pipeline's ProcessVLAPrefixInputs
vlm = dict(
    type='PaliGemmaUnderstandingExpert',
    preset='paligemma-3b',
    pretrained=vlm_pretrained,
    num_frames=2,
    freeze=False,
    torch_dtype='bfloat16',
    max_new_tokens=64,
)
model = dict(mot=dict(ue=dict(vlm, _delete_=True)))

train_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=2, img_size={{_base_.img_size}}),
    dict(type='LoadMultiViewImages', cam_names={{_base_.routed_cams}}, img_size={{_base_.img_size}}),
    dict(type='BuildPlanningTargets'),
    dict(type='ProcessVLAPrefixInputs', ue=vlm, routed_views=[0, 1, 2, 3, 4]),
    dict(type='PackDrivingInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=train_pipeline))
test_dataloader = val_dataloader
