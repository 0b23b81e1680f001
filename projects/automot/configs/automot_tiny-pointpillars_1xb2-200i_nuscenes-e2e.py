# The tiny AutoMoT with a LiDAR-only BEV encoder from mmdet3d's PointPillars modules (mmcv Voxelization,
# PillarFeatureNet, PointPillarsScatter, SECOND, SECONDFPN) instead of the TransFuser-style camera + LiDAR
# fusion. The swap is the one `bev_encoder` line below; it works the same in any AutoMoT config (the AE reads
# (B, G*G, out_channels) tokens from either encoder). The pipeline is unchanged (it still loads the current
# camera, which this encoder does not read).
_base_ = ['./automot_tiny_1xb2-200i_nuscenes-e2e.py']

model = dict(
    bev_encoder=dict(
        _delete_=True,
        type='PointPillarsBEVEncoder',
        point_cloud_range=[-16, -16, -5, 16, 16, 3],
        voxel_size=[0.5, 0.5, 8],
        in_channels=4,
        max_num_points=16,
        max_voxels=(8000, 8000),
        voxel_encoder=dict(feat_channels=(32,)),
        backbone=dict(out_channels=[32, 64, 64], layer_nums=[1, 1, 1]),
        neck=dict(out_channels=[32, 32, 32]),
        grid_size=8,
        out_channels=32,
    )
)  # noqa: E501
