# Constant-velocity baseline in the MetaDrive closed loop (nothing to train):
#   python tools/closed_loop/run_metadrive.py configs/metadrive/constant-velocity_metadrive.py \
#       --episodes 5 --seed 0 --out work_dirs/metadrive/cv
# It extrapolates the current speed and yaw rate, so from a standstill it plans to stay put.
_base_ = ['../_base_/closed_loop/metadrive_agent.py']
default_scope = 'mmautomot'
model = dict(type='ConstantVelocityPlanner', fut_steps=6, plan_dt=0.5, velocity_source='status', use_yaw_rate=True)
driver = dict(type='ego_planner')
