# Closed-loop agent on MetaDrive (mmautomot/closed_loop/metadrive): the Bench2Drive agent core with the
# sensors MetaDrive provides through the adapter (LiDAR-like points from the simulator's geometry, IMU,
# GNSS, speedometer; a front camera when env.camera is set). 20 Hz like Bench2Drive.
agent = dict(
    sensors=[
        dict(type='sensor.lidar.ray_cast', id='LIDAR', x=0.0, y=0.0, z=2.5, roll=0.0, pitch=0.0, yaw=-90.0),
        dict(type='sensor.other.imu', id='IMU', x=0.0, y=0.0, z=0.0, roll=0.0, pitch=0.0, yaw=0.0),
        dict(type='sensor.other.gnss', id='GPS', x=0.0, y=0.0, z=0.0, roll=0.0, pitch=0.0, yaw=0.0),
        dict(type='sensor.speedometer', id='SPEED', reading_frequency=20),
    ],
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
    heuristics=dict(speed_cap=None, creep=False, emergency_brake=False),
    fallback=dict(max_plan_reuse_ticks=10, required_sensors=None),
    action_interval=1,
    dt=0.05,
    prompt=None,
)
# Procedural maps (3 blocks drawn at random per seed) with IDM traffic.
env = dict(kind='pg', map=3, traffic_density=0.1, num_scenarios=1000, start_seed=0, camera=None)
episode = dict(max_steps=900, blocked_s=20.0, offroad_s=3.0)
