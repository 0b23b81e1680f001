# EgoMLP baseline (ego state + command) trained on MetaDrive expert data and run in the MetaDrive loop
# (data: the two collect_metadrive.py commands in projects/automot/configs/automot_tiny_1xb4-1600i_metadrive.py):
#   python tools/train.py configs/metadrive/ego-mlp_1xb32-1000i_metadrive.py --work-dir work_dirs/ego-mlp_1xb32-1000i_metadrive
#   python tools/closed_loop/run_metadrive.py configs/metadrive/ego-mlp_1xb32-1000i_metadrive.py \
#       --checkpoint work_dirs/ego-mlp_1xb32-1000i_metadrive/iter_1000.pth --episodes 5 --seed 0 --out work_dirs/metadrive/ego_mlp
_base_ = ['../baselines/ego-mlp_tiny_1xb8-200i_bench2drive.py', '../_base_/closed_loop/metadrive_agent.py']
data_root = 'data/metadrive/'
train_dataloader = dict(batch_size=32, dataset=dict(data_root=data_root, ann_file='metadrive_infos_train.pkl'))
val_dataloader = dict(dataset=dict(data_root=data_root, ann_file='metadrive_infos_val.pkl'))
test_dataloader = val_dataloader
max_iters = 1000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min_ratio=0.01, by_epoch=False, begin=0, end=max_iters),
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters))
driver = dict(type='ego_planner')
