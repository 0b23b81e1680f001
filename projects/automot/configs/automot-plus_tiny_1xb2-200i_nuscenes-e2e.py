# Tiny AutoMoT+ : the tiny AutoMoT plus the DiT Mixture-of-Attention diffusion action refiner.
# The refiner conditions on the AE output tokens (decision, route and waypoint queries; add 'bev' for the
# 64 BEV tokens) and refines the AE's 6 waypoints by truncated DDIM: the AE proposal noised at t=50 of 1000,
# then 2 deterministic steps (DiffusionDrive practice). Paper latency: +26 ms on an RTX 5090.
_base_ = ['./automot_tiny_1xb2-200i_nuscenes-e2e.py']

model = dict(
    refiner=dict(
        type='DiTMoARefiner',
        cond_sources=['decision', 'route', 'waypoint'],  # cond_channels / num_waypoints filled by AutoMoT
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        mlp_ratio=2.0,
        traj_scale=10.0,  # metres per normalised unit
        diffusion=dict(
            scheduler='ddim',
            num_train_timesteps=1000,
            truncation_timestep=50,
            num_inference_steps=2,
            prediction_type='sample',
            beta_schedule='scaled_linear',
            noise_source='proposal',
        ),
        loss_type='l1',
        loss_weight=1.0,
        seed=0,
    ),
    refiner_detach_proposal=True,
)
