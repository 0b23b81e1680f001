# Closed-loop agent for Drive-pi0 / DriveMoE on Bench2Drive: the 6-camera rig of
# configs/_base_/closed_loop/drivepi0_agent.py and a driver that feeds the model the routed views in the
# router's label order (FL, FR, BACK, BL, BR) followed by the front camera (the front history's source).
#   --agent=<repo>/mmautomot/closed_loop/leaderboard_agent.py --agent-config=<this file>
_base_ = ['../../../../configs/_base_/closed_loop/drivepi0_agent.py']

drivemoe_cams = ['CAM_FRONT_LEFT', 'CAM_FRONT_RIGHT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT', 'CAM_FRONT']
agent = dict(
    driver=dict(
        type='local',
        config='projects/drivemoe/configs/drivemoe_tiny_1xb4-300i_bench2drive-synthetic.py',
        checkpoint=None,
        device='cpu',
        driver_kwargs=dict(cam_names=drivemoe_cams),
    ),
    # the model server instead: python tools/bench2drive/serve_model.py CONFIG CKPT \
    #     --driver-kwargs '{"cam_names": [...]}' and driver=dict(type='remote', host='127.0.0.1', port=50051)
)
