# Constant-velocity baseline in the MetaDrive closed loop (no training):
#   python tools/closed_loop/run_metadrive.py configs/metadrive/constant_velocity_metadrive.py \
#       --episodes 5 --seed 0 --out work_dirs/metadrive/cv
_base_ = ['../_base_/closed_loop/metadrive_agent.py']
driver = dict(type='constant_velocity', fut_steps=6, plan_dt=0.5, velocity_source='status', use_yaw_rate=True)
