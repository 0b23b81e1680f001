# Copyright (c) mmautomot contributors. All rights reserved.
"""LiDAR-only BEV encoder assembled from mmdet3d's PointPillars modules."""

import copy
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmautomot.registry import MODELS

from .mmdet3d_weights import load_detector_branch


def build_mmdet3d_module(cfg: dict) -> nn.Module:
    """Build ``cfg`` from mmdet3d's MODELS registry, in mmdet3d's default scope (so its nested builds,
    e.g. ``mmdet.FPN``, resolve as in mmdet3d). mmdet3d is imported lazily: it is a heavy import."""
    import mmdet3d.models  # noqa: F401  (fills the registry)
    from mmdet3d.registry import MODELS as MMDET3D_MODELS
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope('mmdet3d'):
        return MMDET3D_MODELS.build(cfg)


def _merge(default: dict, user: Optional[dict], derived: dict) -> dict:
    """``user`` over ``default`` when it keeps the default ``type`` (or gives none), else ``user`` alone;
    then the ``derived`` keys (grid geometry, input widths) where ``user`` does not set them."""
    user = copy.deepcopy(dict(user or {}))
    same = str(user.get('type', default['type'])).split('.')[-1] == default['type']
    out = dict(default, **user) if same else user
    for k, v in derived.items():
        out.setdefault(k, v)
    return out


@MODELS.register_module()
class PointPillarsBEVEncoder(BaseModule):
    """Encode a LiDAR cloud into a G x G grid of BEV tokens with mmdet3d's PointPillars modules.

    Lang et al., "PointPillars: Fast Encoders for Object Detection from Point Clouds" (CVPR 2019), as built
    by mmdet3d (the same modules also form CenterPoint's pillar variant):

    1. hard voxelization into pillars (:class:`mmcv.ops.Voxelization`, ``max_num_points`` points per pillar,
       at most ``max_voxels`` pillars, (train, test));
    2. ``voxel_encoder`` (default mmdet3d ``PillarFeatureNet``) -> one feature per pillar;
    3. ``PointPillarsScatter`` -> (B, C, ny, nx) pseudo image (rows along +y, columns along +x);
    4. ``backbone`` (default ``SECOND``) and ``neck`` (default ``SECONDFPN``) -> (B, C_n, ny', nx');
    5. the map is turned into the ego-frame image convention of :class:`TransFuserBEVEncoder` (row 0 the
       farthest ahead, columns from left to right), average-pooled to G x G and projected by a 1 x 1 conv.

    Tensor contract (same as :class:`TransFuserBEVEncoder`): ``forward(imgs, points)`` returns
    (B, G*G, out_channels) tokens, row-major over the BEV grid (token 0 = front-left cell). ``imgs`` is
    ignored (LiDAR only; it may be None). ``points`` are the pipeline's clouds (``LoadPointsInEgoFrame``):
    per sample (N_i, C) float in the ego frame (x forward, y left, z up, metres), columns x, y, z, then
    e.g. intensity and the sweep time lag; the first ``in_channels`` columns are used.

    The voxel grid is laid out in the frame given by ``ego2sensor``: None keeps the ego frame; a 4 x 4
    matrix moves the points into e.g. the LiDAR frame a pretrained detector was trained in (nuScenes
    ``LIDAR_TOP`` is x right, y forward: pass ``inv(lidar2ego)``), and the neck's map is then resampled
    (bilinear) onto the ego-frame grid spanning ``bev_range`` before pooling, so the tokens stay in the ego
    frame whatever the sensor frame.

    Pretrained mmdet3d weights: ``pretrained=dict(checkpoint=PATH, prefix='auto')`` copies the detector's
    ``[pts_]voxel_encoder``, ``[pts_]backbone`` and ``[pts_]neck`` weights in :meth:`init_weights` (called
    by the Runner before training), strictly (every key, every shape; heads are ignored), through
    mmautomot's safe checkpoint loader. ``prefix``: ``''`` for ``VoxelNet`` checkpoints, ``'pts_'`` for
    ``MVXFasterRCNN`` / ``CenterPoint``, ``'auto'`` to detect; ``key_map=dict(backbone='my_backbone')``
    maps single modules explicitly. The module configs must equal the detector's (PointPillars configs of
    mmdet3d use ``PillarFeatureNet(legacy=True)``; here ``legacy`` defaults to False).

    ``voxel_encoder`` / ``backbone`` / ``neck`` dicts are merged over the defaults below when they keep the
    default ``type``; another ``type`` (e.g. ``HardVFE``, ``mmdet.FPN``) replaces the default dict. The grid
    geometry and the input widths are filled in unless given. A CenterPoint-style *voxel* encoder
    (``HardSimpleVFE`` + ``SparseEncoder``) is not offered: mmcv 2.1's sparse convolution has no CPU kernels
    (``get_indice_pairs is not implemented on CPU``) and spconv 2.3.8's CPU build runs the forward but not the
    backward pass.

    Args:
        point_cloud_range (Sequence[float]): (x_min, y_min, z_min, x_max, y_max, z_max) of the voxel grid in
            the frame of ``ego2sensor``, metres. Defaults to (-32, -32, -3, 32, 32, 5).
        voxel_size (Sequence[float]): pillar size (x, y, z), metres (z = the z extent for pillars).
            Defaults to (0.25, 0.25, 8).
        in_channels (int): point columns used (x, y, z, intensity, time lag, ...). Defaults to 4.
        max_num_points (int): points kept per pillar. Defaults to 20.
        max_voxels (int | tuple[int]): pillars kept, (training, testing). Defaults to (30000, 40000).
        voxel_encoder (dict, optional): mmdet3d config merged over ``PillarFeatureNet(in_channels,
            feat_channels=(64,), voxel_size, point_cloud_range, legacy=False)``.
        backbone (dict, optional): mmdet3d config merged over ``SECOND(in_channels=64, out_channels=(64,
            128, 256), layer_nums=(3, 5, 5), layer_strides=(2, 2, 2))``.
        neck (dict, optional): mmdet3d config merged over ``SECONDFPN(in_channels=(64, 128, 256),
            out_channels=(128, 128, 128), upsample_strides=(1, 2, 4))``. The encoder reads the neck's first
            output (SECONDFPN: all levels concatenated; ``mmdet.FPN`` of mmdet3d's nuScenes PointPillars: the
            finest level).
        ego2sensor (Sequence, optional): 4 x 4 ego -> voxel-grid frame transform. Defaults to None (ego).
        bev_range (Sequence[float], optional): (x_min, y_min, x_max, y_max) of the ego-frame output grid when
            ``ego2sensor`` is given. Defaults to the x/y of ``point_cloud_range``.
        grid_size (int): G, the tokens are G x G. Defaults to 8.
        out_channels (int): token width. Defaults to 256.
        pretrained (dict, optional): ``dict(checkpoint, prefix='auto', key_map=None)``, see above
            (``checkpoint=None`` loads nothing).
        init_cfg (dict, optional): mmengine init config.
    """

    #: the ``inputs`` keys this encoder reads (AutoMoT checks them).
    input_keys = ('points',)

    def __init__(
        self,
        point_cloud_range: Sequence[float] = (-32.0, -32.0, -3.0, 32.0, 32.0, 5.0),
        voxel_size: Sequence[float] = (0.25, 0.25, 8.0),
        in_channels: int = 4,
        max_num_points: int = 20,
        max_voxels=(30000, 40000),
        voxel_encoder: Optional[dict] = None,
        backbone: Optional[dict] = None,
        neck: Optional[dict] = None,
        ego2sensor: Optional[Sequence] = None,
        bev_range: Optional[Sequence[float]] = None,
        grid_size: int = 8,
        out_channels: int = 256,
        pretrained: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        from mmcv.ops import Voxelization

        pcr, vs = [float(v) for v in point_cloud_range], [float(v) for v in voxel_size]
        if len(pcr) != 6 or len(vs) != 3 or any(pcr[i + 3] <= pcr[i] for i in range(3)):
            raise ValueError(
                f'PointPillarsBEVEncoder: point_cloud_range must be (x_min, y_min, z_min, x_max, '
                f'y_max, z_max) with min < max and voxel_size (x, y, z); got {pcr}, {vs}'
            )
        shape = [round((pcr[i + 3] - pcr[i]) / vs[i]) for i in range(3)]
        if shape[2] != 1 or min(shape) <= 0:
            raise ValueError(
                f'PointPillarsBEVEncoder: the grid must be pillars (one voxel along z) and '
                f'non-empty, got {shape} (x, y, z) cells for {pcr} / {vs}'
            )
        self.nx, self.ny = shape[0], shape[1]
        self.point_cloud_range, self.voxel_size, self.in_channels = pcr, vs, in_channels
        self.voxel_layer = Voxelization(
            voxel_size=vs,
            point_cloud_range=pcr,
            max_num_points=max_num_points,
            max_voxels=max_voxels,
            deterministic=True,
        )
        venc = _merge(
            dict(type='PillarFeatureNet', feat_channels=(64,)),
            voxel_encoder,
            dict(in_channels=in_channels, voxel_size=vs, point_cloud_range=pcr),
        )
        if str(venc['type']).split('.')[-1] == 'PillarFeatureNet':
            venc.setdefault('legacy', False)  # mmdet3d's legacy=True edits the input points in place
        self.voxel_encoder = build_mmdet3d_module(venc)
        pillar_ch = list(venc['feat_channels'])[-1]
        self.middle_encoder = build_mmdet3d_module(
            dict(type='PointPillarsScatter', in_channels=pillar_ch, output_shape=[self.ny, self.nx])
        )
        bb = _merge(
            dict(type='SECOND', out_channels=[64, 128, 256], layer_nums=[3, 5, 5], layer_strides=[2, 2, 2]),
            backbone,
            dict(in_channels=pillar_ch),
        )
        self.backbone = build_mmdet3d_module(bb)
        nk = _merge(
            dict(type='SECONDFPN', out_channels=[128, 128, 128], upsample_strides=[1, 2, 4]),
            neck,
            dict(in_channels=list(bb['out_channels'])),
        )
        self.neck = build_mmdet3d_module(nk)
        out_ch = nk['out_channels']  # SECONDFPN concatenates its levels; mmdet's FPN gives out_channels each
        self.neck_channels = int(sum(out_ch)) if isinstance(out_ch, (list, tuple)) else int(out_ch)
        if ego2sensor is not None:
            mat = torch.as_tensor(ego2sensor, dtype=torch.float64)
            if mat.shape != (4, 4):
                raise ValueError(f'PointPillarsBEVEncoder: ego2sensor must be 4 x 4, got {tuple(mat.shape)}')
            self.register_buffer('ego2sensor', mat.float(), persistent=False)
        else:
            self.ego2sensor = None
        self.bev_range = [float(v) for v in (bev_range or (pcr[0], pcr[1], pcr[3], pcr[4]))]
        self.grid_size = grid_size
        self.out_channels = out_channels
        self.out_proj = nn.Conv2d(self.neck_channels, out_channels, kernel_size=1)
        self.pretrained = dict(pretrained) if pretrained is not None else None

    # ------------------------------------------------------------------ weights
    def lidar_modules(self) -> dict:
        """The modules named as in mmdet3d's ``VoxelNet`` (the weights a detector checkpoint provides)."""
        return dict(voxel_encoder=self.voxel_encoder, backbone=self.backbone, neck=self.neck)

    def init_weights(self) -> None:
        """mmengine initialisation, then the ``pretrained`` mmdet3d weights (if configured)."""
        super().init_weights()
        if self.pretrained is not None:
            cfg = dict(self.pretrained)
            if 'checkpoint' not in cfg:
                raise KeyError(f'PointPillarsBEVEncoder: pretrained needs a checkpoint, got {cfg}')
            checkpoint = cfg.pop('checkpoint')
            if checkpoint is not None:  # None: a config slot to fill from the command line
                load_detector_branch(self.lidar_modules(), checkpoint, **cfg)

    # ------------------------------------------------------------------ forward
    def voxelize(self, points: Sequence[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """Hard-voxelize a batch: pillars (M, P, C), points per pillar (M,), coords (M, 4) = (b, z, y, x)."""
        voxels, coors, nums = [], [], []
        for i, pts in enumerate(points):
            if pts.dim() != 2 or pts.shape[1] < self.in_channels:
                raise ValueError(
                    f'PointPillarsBEVEncoder: cloud {i} must be (N, C >= {self.in_channels}), got {tuple(pts.shape)}'
                )
            pts = pts[:, : self.in_channels].float().contiguous()
            if self.ego2sensor is not None:
                m = self.ego2sensor.to(pts.device)
                pts = torch.cat([pts[:, :3] @ m[:3, :3].T + m[:3, 3], pts[:, 3:]], dim=1)
            v, c, n = self.voxel_layer(pts)
            voxels.append(v)
            coors.append(F.pad(c, (1, 0), value=i))
            nums.append(n)
        return torch.cat(voxels), torch.cat(nums), torch.cat(coors)

    def to_ego_grid(self, feat: Tensor) -> Tensor:
        """Map the neck output (B, C, ny', nx') of the voxel-grid frame to the ego image convention."""
        if self.ego2sensor is None:  # rows +y, cols +x  ->  rows -x (front first), cols -y (left first)
            return feat.flip(-2, -1).transpose(-2, -1)
        bsz, _, h, w = feat.shape
        x0, y0, x1, y1 = self.bev_range
        xs = x1 - (torch.arange(h, device=feat.device, dtype=torch.float32) + 0.5) * (x1 - x0) / h
        ys = y1 - (torch.arange(w, device=feat.device, dtype=torch.float32) + 0.5) * (y1 - y0) / w
        gx, gy = torch.meshgrid(xs, ys, indexing='ij')  # (h, w): ego x, y of each output cell centre
        m = self.ego2sensor.to(feat.device)
        sx = m[0, 0] * gx + m[0, 1] * gy + m[0, 3]
        sy = m[1, 0] * gx + m[1, 1] * gy + m[1, 3]
        p = self.point_cloud_range
        grid = torch.stack([(sx - p[0]) / (p[3] - p[0]) * 2 - 1, (sy - p[1]) / (p[4] - p[1]) * 2 - 1], -1)
        grid = grid.to(feat.dtype)[None].expand(bsz, -1, -1, -1)
        return F.grid_sample(feat, grid, mode='bilinear', padding_mode='zeros', align_corners=False)

    def forward(self, imgs: Optional[Tensor], points: Sequence[Tensor]) -> Tensor:
        """Encode one batch.

        Args:
            imgs (Tensor | None): ignored (LiDAR only).
            points (Sequence[Tensor]): B clouds, each (N_i, C >= in_channels) float in the ego frame (x
                forward, y left, z up, metres); empty clouds are allowed (all-zero pseudo image).

        Returns:
            Tensor: (B, G*G, out_channels) BEV tokens, row-major over the ego BEV grid.
        """
        points: List[Tensor] = list(points)
        bsz = len(points)
        if imgs is not None and imgs.shape[0] != bsz:
            raise ValueError(f'PointPillarsBEVEncoder: {bsz} point clouds for a batch of {imgs.shape[0]} images')
        voxels, nums, coors = self.voxelize(points)
        if voxels.shape[0] == 0:  # no point in range anywhere in the batch
            dev = points[0].device if bsz else self.out_proj.weight.device
            canvas = torch.zeros(
                bsz, self.middle_encoder.in_channels, self.ny, self.nx, device=dev, dtype=self.out_proj.weight.dtype
            )
        else:  # voxelize in float32, encode in the encoder's dtype (e.g. bf16 under mixed precision)
            dtype = self.out_proj.weight.dtype
            canvas = self.middle_encoder(self.voxel_encoder(voxels.to(dtype), nums, coors), coors, bsz)
        feat = self.neck(self.backbone(canvas))[0]
        feat = F.adaptive_avg_pool2d(self.to_ego_grid(feat), self.grid_size)
        return self.out_proj(feat).flatten(2).transpose(1, 2)
