# DriveMoE at paper scale (stage 1): the Drive-pi0 above + camera router (8 heads) + action MoE (1 shared + 7
# skill experts of FFN 4096, top-3, trajectory-level router) in the last 4 AE layers. Builds on the meta
# device for parameter counts. Stage 2: drivemoe-stage2_qwen3vl-4b_1xb8-12e_bench2drive.py.
_base_ = ['./drive-pi0_qwen3vl-4b_1xb8-12e_bench2drive.py']

model = dict(
    type='DriveMoE',
    mot=dict(
        ae=dict(
            mlp=dict(
                type='MoEFFN',
                num_experts=7,
                num_shared_experts=1,
                top_k=3,
                router=dict(type='TrajectoryRouter', num_pool_tokens=10),
                aux_loss=False,
            ),
            mlp_layers=[-4, -3, -2, -1],
        )
    ),
    camera_router=dict(num_heads=8, goal_hidden=128, goal_scale=1.0),
    candidate_views=[0, 1, 2, 3, 4],
    share_action_routing=True,
    router_supervision=False,
)

# the VLM prefix inputs with the 5 candidate views processed for the camera router's pick
train_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=2, img_size={{_base_.img_size}}),
    dict(type='LoadMultiViewImages', cam_names={{_base_.routed_cams}}, img_size={{_base_.img_size}}),
    dict(type='BuildPlanningTargets'),
    dict(type='ProcessVLAPrefixInputs', ue={{_base_.vlm}}, routed_views=[0, 1, 2, 3, 4]),
    dict(type='PackDrivingInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=train_pipeline))
test_dataloader = val_dataloader
