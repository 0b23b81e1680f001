# Closed-loop agent for Bench2Drive (CARLA 0.9.15, leaderboard 2.0), AutoMoT sensor rig:
# front camera 1024x512 FOV 110, LiDAR, IMU, GNSS, speedometer. Pass this file (or a config inheriting
# it) as --agent-config to the leaderboard together with
# --agent=<repo>/mmautomot/closed_loop/leaderboard_agent.py.
# Sensor positions are CARLA vehicle coordinates (x forward, y right, z up; yaw in degrees, clockwise).
agent = dict(
    # 'remote': the model runs in tools/bench2drive/serve_model.py (any Python; the shared secret comes
    # from $MMAUTOMOT_SERVER_SECRET(_FILE), never from this file); 'local': in-process.
    driver=dict(type='remote', host='127.0.0.1', port=50051, timeout=120.0),
    # driver=dict(type='local', config='projects/automot/configs/automot_tiny_1xb2-200i_bench2drive-synthetic.py', checkpoint='work_dirs/xxx.pth',
    #             device='cuda', driver_kwargs=dict(ue_interval=2, max_cache_age=4)),
    sensors=[
        dict(
            type='sensor.camera.rgb',
            id='CAM_FRONT',
            x=-1.5,
            y=0.0,
            z=2.0,
            roll=0.0,
            pitch=0.0,
            yaw=0.0,
            width=1024,
            height=512,
            fov=110,
        ),
        dict(type='sensor.lidar.ray_cast', id='LIDAR', x=0.0, y=0.0, z=2.5, roll=0.0, pitch=0.0, yaw=-90.0),
        dict(type='sensor.other.imu', id='IMU', x=0.0, y=0.0, z=0.0, roll=0.0, pitch=0.0, yaw=0.0, sensor_tick=0.05),
        dict(type='sensor.other.gnss', id='GPS', x=0.0, y=0.0, z=0.0, roll=0.0, pitch=0.0, yaw=0.0, sensor_tick=0.01),
        dict(type='sensor.speedometer', id='SPEED', reading_frequency=20),
    ],
    # jpeg_quality: re-encode camera frames like JPEG training data (None = off).
    preprocess=dict(jpeg_quality=None, resize=None, max_points=None),
    route=dict(min_distance=7.5, max_distance=50.0, lat_ref=0.0, lon_ref=0.0),
    control=dict(
        lateral=dict(kp=1.25, ki=0.75, kd=0.3, window=20),
        longitudinal=dict(kp=5.0, ki=0.5, kd=1.0, window=20),
        lateral_mode='path',
        lookahead_min=3.0,
        lookahead_max=10.0,
        lookahead_gain=0.4,
        waypoint_dt=0.5,
        speed_segments=2,
        brake_speed=0.4,
        brake_ratio=1.1,
        clip_delta=0.25,
        max_throttle=0.75,
    ),
    # Every heuristic is off by default; the resolved values are written to agent_config.json.
    heuristics=dict(speed_cap=None, creep=False, emergency_brake=False),
    fallback=dict(max_plan_reuse_ticks=10, required_sensors=None),
    action_interval=1,
    prompt=None,
    save_dir=None,
)
