# Tiny variant of bench2drive_e2e.py on synthetic routes (`data/bench2drive-synthetic/`):
#   python tools/bench2drive/make_synthetic_routes.py --out data/bench2drive-synthetic --routes 3
#   python tools/create_data.py bench2drive --root-path data/bench2drive-synthetic \
#       --out-dir data/bench2drive-synthetic --val-ratio 0.34
# Small images, the front camera only (so PDM-Lite-layout routes work too), at most 4096 LiDAR points,
# no worker processes. For smoke runs and CI on CPU.
_base_ = './bench2drive_e2e.py'

data_root = 'data/bench2drive-synthetic/'
cam_names = ['CAM_FRONT']
ue_hist_frames = 2
ue_img_size = (64, 32)
cam_img_size = (64, 32)
max_points = 4096

train_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=ue_hist_frames, img_size=ue_img_size),
    dict(type='LoadMultiViewImages', cam_names=cam_names, img_size=cam_img_size),
    dict(type='LoadCarlaPoints', num_feats=4, to_ego=True, max_points=max_points),
    dict(type='BuildPlanningTargets'),
    dict(type='PackDrivingInputs'),
]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root, pipeline=train_pipeline)
)
val_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root, pipeline=test_pipeline)
)
test_dataloader = val_dataloader
