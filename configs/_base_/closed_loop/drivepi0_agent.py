# Closed-loop agent with the Drive-pi0 / DriveMoE rig: 6 nuScenes-like cameras (Bench2Drive data rig,
# 1600x900), IMU, GNSS, speedometer. Positions in CARLA vehicle coordinates (y right, yaw clockwise).
_base_ = ['./automot_agent.py']


def _cam(cid, x, y, yaw, fov=70):
    return dict(
        type='sensor.camera.rgb',
        id=cid,
        x=x,
        y=y,
        z=1.60,
        roll=0.0,
        pitch=0.0,
        yaw=yaw,
        width=1600,
        height=900,
        fov=fov,
    )


agent = dict(
    sensors=[
        _cam('CAM_FRONT', 0.80, 0.0, 0.0),
        _cam('CAM_FRONT_LEFT', 0.27, -0.55, -55.0),
        _cam('CAM_FRONT_RIGHT', 0.27, 0.55, 55.0),
        _cam('CAM_BACK', -2.0, 0.0, 180.0, fov=110),
        _cam('CAM_BACK_LEFT', -0.32, -0.55, -110.0),
        _cam('CAM_BACK_RIGHT', -0.32, 0.55, 110.0),
        dict(type='sensor.other.imu', id='IMU', x=0.0, y=0.0, z=0.0, roll=0.0, pitch=0.0, yaw=0.0, sensor_tick=0.05),
        dict(type='sensor.other.gnss', id='GPS', x=0.0, y=0.0, z=0.0, roll=0.0, pitch=0.0, yaw=0.0, sensor_tick=0.01),
        dict(type='sensor.speedometer', id='SPEED', reading_frequency=20),
    ],
    # Bench2Drive training images are JPEGs: re-encode to avoid the train/test gap.
    preprocess=dict(jpeg_quality=95),
)
