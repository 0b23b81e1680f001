# Tiny DriveMoE (stage 1: routers unsupervised) on the synthetic nuScenes data: the tiny Drive-pi0 plus
# the camera router (one routed view of FL, FR, BACK, BL, BR besides the front history) and the action MoE
# (1 shared + 7 skill experts, top-3, trajectory-level router) in the last 2 of the AE's 3 layers
# (paper: last 4 of 18). Token-level routing instead: router=dict(type='TokenRouter') and
# share_action_routing=False.
_base_ = ['./drive-pi0_tiny_1xb4-300i_nuscenes-synthetic.py']

model = dict(
    type='DriveMoE',
    mot=dict(
        ae=dict(
            mlp=dict(
                type='MoEFFN',
                num_experts=7,
                num_shared_experts=1,
                top_k=3,
                router=dict(type='TrajectoryRouter', num_pool_tokens=6),
                aux_loss=False,
            ),
            mlp_layers=[-2, -1],
        )
    ),
    camera_router=dict(num_heads=8, goal_hidden=32, goal_scale=1.0),
    candidate_views=[0, 1, 2, 3, 4],
    share_action_routing=True,
    router_supervision=False,
)

# the VLM prefix inputs with the 5 candidate views processed for the camera router's pick
train_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=2, img_size={{_base_.hist_size}}),
    dict(type='LoadMultiViewImages', cam_names={{_base_.routed_cams}}, img_size={{_base_.hist_size}}),
    dict(type='BuildPlanningTargets', use_target_point=False),  # GT-derived on nuScenes: not an input
    dict(type='ProcessVLAPrefixInputs', ue={{_base_.vlm}}, routed_views=[0, 1, 2, 3, 4]),
    dict(type='PackDrivingInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=train_pipeline))
test_dataloader = val_dataloader
