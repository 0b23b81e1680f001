# Bench2Drive end-to-end planning data (CARLA, closed-loop training; open-loop PlanningMetric on val as a
# sanity check). Info pkls come from
#   python tools/create_data.py bench2drive --root-path data/bench2drive --out-dir data/bench2drive
# (same format as nuScenes, docs/contracts.md). Differences from nuscenes_e2e.py: LiDAR clouds are CARLA
# left-handed (x, y, z, intensity) files loaded with LoadCarlaPoints (y flipped, moved to the ego frame);
# no LiDAR sweeps; commands use all 6 indices of mmautomot.structures.COMMANDS (CARLA RoadOption); the
# target point is the route's next target (what the closed-loop agent gives too), not GT-derived as on
# nuScenes, so BuildPlanningTargets keeps use_target_point=True.
# For PDM-Lite data use dataset_type = 'PDMLiteE2EDataset' and cam_names = ['CAM_FRONT'] (one camera).
# Every pipeline output is dict(inputs=dict(img_hist, imgs, points, ego_status, ego_hist_trajs,
# target_point, command), data_samples=DrivingDataSample); images stay uint8.
dataset_type = 'Bench2DriveE2EDataset'
data_root = 'data/bench2drive/'
backend_args = None

# Bench2Drive's 6 cameras under their nuScenes-like names (mmautomot.datasets.bench2drive.rig);
# CAM_FRONT (rgb_front) is the CARLA front camera that also feeds the understanding expert.
cam_names = ['CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT']
num_commands = 6  # turn_left, turn_right, go_straight, lane_follow, change_lane_left, change_lane_right
ue_hist_frames = 4  # front-camera frames for the understanding expert (released agent: 4)
ue_img_size = (512, 256)  # (width, height) of the UE frames, as in the paper
cam_img_size = (704, 256)  # (width, height) of the current views for the BEV encoder
max_points = None  # keep every LiDAR point

train_pipeline = [
    dict(type='LoadFrontCamHistory', num_frames=ue_hist_frames, img_size=ue_img_size, backend_args=backend_args),
    dict(type='LoadMultiViewImages', cam_names=cam_names, img_size=cam_img_size, backend_args=backend_args),
    dict(type='LoadCarlaPoints', num_feats=4, to_ego=True, max_points=max_points),
    dict(type='BuildPlanningTargets'),
    dict(type='PackDrivingInputs'),
]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='bench2drive_infos_train.pkl',
        pipeline=train_pipeline,
        test_mode=False,
        filter_invalid_future=False,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='bench2drive_infos_val.pkl',
        pipeline=test_pipeline,
        test_mode=True,
        filter_invalid_future=False,
    ),
)
test_dataloader = val_dataloader

# Open-loop L2 / collision on the val routes: a sanity check only; the Bench2Drive numbers are the
# closed-loop DS / SR (tools/bench2drive/run_evaluation.py + merge_results.py).
# nuScenes' LIDAR_TOP reference point does not apply to CARLA logs: check collisions at the ego origin
val_evaluator = dict(
    type='PlanningMetric', protocols=('stp3', 'uniad'), plan_dt=0.5, collision_cfg=dict(ego_reference='ego')
)
test_evaluator = val_evaluator
