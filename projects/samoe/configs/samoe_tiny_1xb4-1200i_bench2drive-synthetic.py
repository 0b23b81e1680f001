# Tiny SAMoE-VLA on Bench2Drive-layout routes (synthetic by default):
#   python tools/bench2drive/make_synthetic_routes.py --out data/bench2drive-synthetic --routes 3
#   python tools/create_data.py bench2drive --root-path data/bench2drive-synthetic \
#       --out-dir data/bench2drive-synthetic --val-ratio 0.34
# Same model as on nuScenes with the AutoMoT sensor rig (front camera + LiDAR; CARLA LiDAR flipped into the
# ego frame by LoadCarlaPoints). The route target point is a legitimate input here (route planner, not GT):
# it enters the ego-state token. The 6-way CARLA command becomes the fallback instruction sentence when the
# sample has no free-text `instruction` (LangAuto-style).
_base_ = ['./samoe_tiny_1xb4-1200i_nuscenes-synthetic.py']

dataset_type = 'Bench2DriveE2EDataset'  # PDMLiteE2EDataset for PDM-Lite-layout routes
data_root = 'data/bench2drive-synthetic/'
b2d_pipeline = [
    dict(type='LoadMultiViewImages', cam_names=['CAM_FRONT'], img_size=(128, 64)),
    dict(type='LoadCarlaPoints', num_feats=4, to_ego=True, max_points=4096),
    dict(type='BuildPlanningTargets'),
    dict(type='TokenizeInstruction', ue={{_base_.vlm}}),
    dict(type='PackDrivingInputs', meta_keys={{_base_.meta_keys}}),
]
model = dict(use_target_point=True)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='bench2drive_infos_train.pkl',
        pipeline=b2d_pipeline,
    )
)
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='bench2drive_infos_val.pkl',
        pipeline=b2d_pipeline,
        test_mode=True,
    )
)
test_dataloader = val_dataloader
# open-loop sanity check on the val routes; CARLA logs have no LIDAR_TOP reference point: collisions at the ego
# origin (as configs/_base_/datasets/bench2drive_e2e.py)
val_evaluator = dict(
    type='PlanningMetric', protocols=('stp3', 'uniad'), plan_dt=0.5, collision_cfg=dict(ego_reference='ego')
)
test_evaluator = val_evaluator
