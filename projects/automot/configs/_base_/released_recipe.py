# The released AutoMoT layout and training recipe (OscarHuangWind/AutoMoT), shared by the paper-scale and the
# tiny configs. Model parts (merged into the child's `model`): the AE in the released padded layout (UE width,
# 16 query / 4 KV heads of 80 zero-padded into the UE's 32 x 128 slots), the released tokens (64 BEV, 2 target
# points, 1 velocity, 8 reasoning / 20 route / 6 waypoint queries through 588-d embeddings + MLP connectors)
# and heads; losses ce 0.4 (decisions through the UE lm_head), waypoints 2.0 (L1 on offsets, step weights
# [3, 3, 2, 2, 1, 1]), route 1.0, velocity 0.5. Training: UE (and its ViT) frozen; AdamW lr 1e-4, betas
# (0.9, 0.95), weight decay 0, grad clip 1.0, cosine to 2e-5 (optim_wrapper / param_scheduler are written in
# each child: mmengine forbids a key in two bases and the schedule base has them); EMA 0.9999 with mmengine's
# EMAHook, whose checkpoints hold the EMA weights as `state_dict` (the raw ones as `ema_state_dict`), so
# validation and test.py use the EMA weights.
# Quirks of the released weights stay OFF here (new training). To run converted released weights set
# `model.path_head.released_cumsum_quirk=True` (route cumsum over the coordinate axis) and
# `model.mot.ue_attention='released'` (image blocks bidirectional; the instruction block after the images
# bidirectional in training, causal in inference, as the released code; see MoTTransformer).
model = dict(
    mot=dict(
        ae=dict(type='PaddedActionExpertLayer', num_heads=16, num_kv_heads=4, intermediate_size=4864),
        ue_attention='causal',
    ),
    tokens=dict(
        type='ReleasedActionTokens',
        num_bev_tokens=64,
        num_target_tokens=2,
        num_speed_tokens=1,
        num_decision_queries=8,
        num_route_queries=20,
        num_waypoint_queries=6,
        query_dim=588,
    ),
    path_head=dict(
        type='ReleasedTrajectoryHead', num_points=20, loss_on='points', loss_weight=1.0, released_cumsum_quirk=False
    ),
    traj_head=dict(
        type='ReleasedTrajectoryHead',
        num_points=6,
        loss_on='offsets',
        step_weights=[3.0, 3.0, 2.0, 2.0, 1.0, 1.0],
        loss_weight=2.0,
    ),
    velocity_head=dict(type='ReleasedVelocityHead', num_outputs=3, loss_weight=0.5),
    meta_action_head=dict(type='LMHeadDecisionHead', loss_weight=0.4),
)

custom_hooks = [dict(type='EMAHook', momentum=1e-4, update_buffers=False, priority='ABOVE_NORMAL')]
