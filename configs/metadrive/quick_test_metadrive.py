# A few-second closed-loop smoke test (README test command): one short episode, constant velocity.
_base_ = ['./constant-velocity_metadrive.py']
env = dict(map='S', traffic_density=0.05, num_scenarios=2)
episode = dict(max_steps=100)
