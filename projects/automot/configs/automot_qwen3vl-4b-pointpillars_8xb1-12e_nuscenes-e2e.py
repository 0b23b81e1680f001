# Paper-scale AutoMoT whose action expert reads LiDAR-only BEV tokens from mmdet3d's nuScenes PointPillars
# (`pointpillars_hv_secfpn_sbn-all_8xb4-2x_nus-3d`: HardVFE 64-64, SECOND 64/128/256, SECONDFPN 3 x 128, 0.25 m
# pillars over +-50 m) instead of the TransFuser-style camera + LiDAR fusion. The swap is the one
# `bev_encoder` line below and works in any AutoMoT config.
#
# The voxel grid lives in the LIDAR_TOP frame (x right, y forward, 0.94 m ahead of and 1.84 m above the ego
# origin: `ego2sensor` is the inverse of nuScenes' LIDAR_TOP lidar2ego, rounded to a 90 deg yaw) so the
# detector's weights see the frame they were trained in; the tokens are resampled into the ego frame.
# To start from a trained mmdet3d detector, set its checkpoint (a local file, loaded through the safe loader;
# `prefix='pts_'` for MVXFasterRCNN checkpoints, '' for VoxelNet, 'auto' to detect):
#   --cfg-options model.bev_encoder.pretrained.checkpoint=checkpoints/pointpillars_secfpn_nus.pth
# Loading is strict: a checkpoint of another layout fails naming the first mismatching keys and shapes.
_base_ = ['./automot_qwen3vl-4b_8xb1-12e_nuscenes-e2e.py']

model = dict(
    bev_encoder=dict(
        _delete_=True,
        type='PointPillarsBEVEncoder',
        point_cloud_range=[-50, -50, -5, 50, 50, 3],
        voxel_size=[0.25, 0.25, 8],
        in_channels=4,
        max_num_points=64,
        max_voxels=(30000, 40000),
        voxel_encoder=dict(
            type='HardVFE',
            feat_channels=[64, 64],
            with_distance=False,
            with_cluster_center=True,
            with_voxel_center=True,
            norm_cfg=dict(type='naiveSyncBN1d', eps=1e-3, momentum=0.01),
        ),
        backbone=dict(norm_cfg=dict(type='naiveSyncBN2d', eps=1e-3, momentum=0.01)),
        neck=dict(norm_cfg=dict(type='naiveSyncBN2d', eps=1e-3, momentum=0.01)),
        ego2sensor=[[0, -1, 0, 0], [1, 0, 0, -0.943713], [0, 0, 1, -1.84023], [0, 0, 0, 1]],
        bev_range=[-32, -32, 32, 32],
        grid_size=8,
        out_channels=384,
        pretrained=dict(checkpoint=None, prefix='auto'),
    )
)  # noqa: E501
