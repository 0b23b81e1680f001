# The tiny AutoMoT on the built-in synthetic nuScenes data (`tools/misc/make_synthetic_nuscenes.py` +
# `tools/create_data.py nuscenes`): the README demo's model. Same model as automot_tiny_nuscenes-e2e.py.
_base_ = ['./automot_tiny_nuscenes-e2e.py']

data_root = 'data/nuscenes-synthetic/'
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
