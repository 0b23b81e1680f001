# AutoMoT at paper scale trained with DeepSpeed ZeRO-3 (parameters, gradients and optimizer states partitioned
# over the GPUs; bf16) instead of FSDP. Needs `pip install deepspeed` on the GPU host (not a requirement of this
# toolbox):  tools/dist_train.sh projects/automot/configs/automot_qwen3vl-4b-zero3_8xb1-12e_nuscenes-e2e.py 8
# ZeRO-3 gathers each module's own parameters in that module's forward pre-hook, so it needs no wrap policy:
# the joint layer loop calls the projections, norms and FFNs of both experts as modules.
_base_ = './automot_qwen3vl-4b_8xb1-12e_nuscenes-e2e.py'

micro_batch = 1
train_dataloader = dict(batch_size=micro_batch)

strategy = dict(
    _delete_=True,
    type='DeepSpeedStrategy',
    bf16=dict(enabled=True),
    zero_optimization=dict(
        stage=3,
        overlap_comm=True,
        contiguous_gradients=True,
        reduce_bucket_size=5e7,
        stage3_prefetch_bucket_size=5e7,
        stage3_param_persistence_threshold=1e5,
        stage3_gather_16bit_weights_on_model_save=True,
    ),  # full bf16 weights in saved checkpoints
    gradient_clipping=1.0,
    train_micro_batch_size_per_gpu=micro_batch,
    gradient_accumulation_steps=1,
    exclude_frozen_parameters=True,
)  # checkpoints hold the trainable AE, BEV encoder and heads
optim_wrapper = dict(
    _delete_=True, type='DeepSpeedOptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.01)
)
