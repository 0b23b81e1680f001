# Tiny AutoMoT trained on MetaDrive expert (IDM) data and evaluated in the MetaDrive closed loop (CPU):
#   python tools/closed_loop/collect_metadrive.py --out data/metadrive --episodes 12 --seed 1000 --camera 128x64 \
#       --max-steps 400
#   python tools/closed_loop/collect_metadrive.py --out data/metadrive --episodes 3 --seed 1100 --camera 128x64 \
#       --max-steps 300 --spawn-speed 6
#   python tools/train.py projects/automot/configs/automot_tiny_1xb4-1600i_metadrive.py --work-dir work_dirs/automot_tiny_1xb4-1600i_metadrive
#   python tools/closed_loop/run_metadrive.py projects/automot/configs/automot_tiny_1xb4-1600i_metadrive.py \
#       --checkpoint work_dirs/automot_tiny_1xb4-1600i_metadrive/iter_1600.pth --episodes 5 --seed 0 --out work_dirs/metadrive/automot
# The rendered front camera (128 x 64, placeholder assets unless the official pack is installed) feeds the
# UE history and the BEV encoder; the LiDAR-like cloud comes from the simulator's geometry.
_base_ = ['./automot_tiny_1xb2-200i_bench2drive-synthetic.py', '../../../configs/_base_/closed_loop/metadrive_agent.py']

data_root = 'data/metadrive/'
# No dataset prompt: the UE text is then the model's own driving_prompt(command, speed) in training, exactly
# what the closed-loop Driver gives it (the dataset's default template adds a system prompt the Driver lacks).
md_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=2, img_size=(128, 64)),
    dict(type='LoadMultiViewImages', cam_names=['CAM_FRONT'], img_size=(128, 64)),
    dict(type='LoadCarlaPoints', num_feats=4, to_ego=True, max_points=4096),
    dict(type='BuildPlanningTargets', with_prompt=False),
    dict(type='PackDrivingInputs'),
]
train_dataloader = dict(
    batch_size=4, dataset=dict(data_root=data_root, ann_file='metadrive_infos_train.pkl', pipeline=md_pipeline)
)
val_dataloader = dict(dataset=dict(data_root=data_root, ann_file='metadrive_infos_val.pkl', pipeline=md_pipeline))
test_dataloader = val_dataloader
max_iters = 1600  # about 13 min on 2 shared CPU cores
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min_ratio=0.01, by_epoch=False, begin=0, end=max_iters),
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=800))

env = dict(camera=dict(_delete_=True, width=128, height=64))
agent = dict(
    sensors=[
        dict(
            type='sensor.camera.rgb',
            id='CAM_FRONT',
            x=0.8,
            y=0.0,
            z=1.5,
            roll=0.0,
            pitch=0.0,
            yaw=0.0,
            width=128,
            height=64,
            fov=60,
        ),
        dict(type='sensor.lidar.ray_cast', id='LIDAR', x=0.0, y=0.0, z=2.5, roll=0.0, pitch=0.0, yaw=-90.0),
        dict(type='sensor.other.imu', id='IMU', x=0.0, y=0.0, z=0.0, roll=0.0, pitch=0.0, yaw=0.0),
        dict(type='sensor.other.gnss', id='GPS', x=0.0, y=0.0, z=0.0, roll=0.0, pitch=0.0, yaw=0.0),
        dict(type='sensor.speedometer', id='SPEED', reading_frequency=20),
    ],
    preprocess=dict(resize=(128, 64), max_points=4096),
)
# driver_kwargs=dict(mode='sync' | 'inline' | 'background') picks the UE refresh mode (UERefreshPolicy), e.g.
# --cfg-options driver.driver_kwargs.mode=background episode.latency=measured
driver = dict(type='automot', driver_kwargs=dict())
# The UE history frames are 0.5 s apart in the data (the converter's ue_hist_dt); the agent ticks at 20 Hz, so
# the Driver keeps its history frames 10 ticks apart (mmautomot.apis.Driver hist_stride; also set in the base).
ue_hist_stride = 10
# MetaDrive labels are the ego (rear-axle-free, centre) trajectory, not a LIDAR_TOP one.
val_evaluator = dict(collision_cfg=dict(ego_reference='ego'))
test_evaluator = val_evaluator
