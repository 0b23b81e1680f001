# Copyright (c) mmautomot contributors. All rights reserved.
"""Camera + LiDAR BEV encoder of the AutoMoT action expert (TransFuser++-style)."""

from typing import Iterator, List, Optional, Sequence, Tuple

import timm
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmautomot.registry import MODELS

from .lidar_histogram import bev_grid_shape, lidar_to_bev_histogram
from .transfuser_fusion import CameraBEVFusionBlock


def _create_backbone(
    name: str, checkpoint: Optional[str], in_chans: int, out_indices: Sequence[int], kwargs: dict
) -> nn.Module:
    """A timm ``features_only`` backbone, optionally initialised from a local checkpoint file.

    The checkpoint is a timm/torch state dict of the full classification model (``.pth``/``.bin`` or
    ``.safetensors``) loaded by timm itself (classifier dropped, first conv adapted to ``in_chans``).
    """
    extra = dict(kwargs)
    if checkpoint is not None:
        extra['pretrained_cfg_overlay'] = dict(file=str(checkpoint))
    model = timm.create_model(
        name,
        pretrained=checkpoint is not None,
        features_only=True,
        out_indices=tuple(out_indices),
        in_chans=in_chans,
        **extra,
    )
    if not hasattr(model, 'return_layers'):
        raise ValueError(
            f'TransFuserBEVEncoder: timm model {name!r} does not build a sequential '
            f'feature network (got {type(model).__name__}); use a CNN such as resnet/regnet'
        )
    return model


def _run_until_return(layers: Iterator, return_layers: dict, x: Tensor) -> Tensor:
    """Run the next backbone layers up to and including the next return (feature) layer."""
    for name, module in layers:
        x = module(x)
        if name in return_layers:
            break
    return x


@MODELS.register_module()
class TransFuserBEVEncoder(BaseModule):
    """Encode camera images and a LiDAR cloud into a G x G grid of BEV tokens.

    AutoMoT's action expert reads 64 BEV tokens (8 x 8) from a TransFuser++-style camera + LiDAR BEV
    feature of 1512 channels (regnety_032's last stage). Following TransFuser (Chitta et al., "TransFuser:
    Imitation with Transformer-Based Sensor Fusion for Autonomous Driving", TPAMI 2022) and TransFuser++
    (Jaeger et al., "Hidden Biases of End-to-End Driving Models", ICCV 2023):

    1. the LiDAR cloud is rasterised into a BEV height histogram (:func:`lidar_to_bev_histogram`; row 0 is
       the farthest ahead, columns go from left to right);
    2. every camera image and the BEV image go through their own timm CNN backbone, stage by stage;
    3. after each fused stage (``out_indices``) a :class:`CameraBEVFusionBlock` pools both maps to anchor
       cells, runs self-attention over all camera and BEV tokens and adds the result back to both branches;
    4. the final BEV map is average-pooled to G x G and projected by a 1 x 1 conv to ``out_channels``.
       Tokens are ordered row-major over the BEV grid (token 0 = front-left cell).

    Args:
        image_backbone (str): timm name of the camera CNN. Defaults to ``'resnet18'``
            (paper: ``'regnety_032'``).
        lidar_backbone (str): timm name of the BEV CNN. Defaults to ``'resnet18'``.
        image_checkpoint (str, optional): local state-dict file of the camera CNN (no download).
        lidar_checkpoint (str, optional): same for the BEV CNN (first conv adapted to the BEV channels).
        backbone_kwargs (dict, optional): extra kwargs of ``timm.create_model`` for both backbones.
        out_indices (Sequence[int]): backbone stages after which to fuse; both backbones must give
            the same number of stages. Defaults to (1, 2, 3, 4) (strides 4..32, skipping the stem).
        bev (dict, optional): kwargs of :func:`lidar_to_bev_histogram` (``x_range``, ``y_range``,
            ``resolution``, ``z_range``, ``split_height``, ``max_count``, ``use_ground_plane``).
        num_cams (int): maximum number of cameras. Defaults to 1.
        img_anchors (tuple[int]): pooled cells per camera in the fusion. Defaults to (2, 8).
        bev_anchors (tuple[int]): pooled BEV cells in the fusion. Defaults to (8, 8).
        fusion_layers (int): transformer layers per fusion block. Defaults to 1.
        fusion_heads (int): attention heads per fusion block. Defaults to 4.
        fusion_dropout (float): dropout in the fusion blocks. Defaults to 0.
        grid_size (int): G, output tokens are G x G. Defaults to 8.
        out_channels (int): token width. Defaults to 256.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(
        self,
        image_backbone: str = 'resnet18',
        lidar_backbone: str = 'resnet18',
        image_checkpoint: Optional[str] = None,
        lidar_checkpoint: Optional[str] = None,
        backbone_kwargs: Optional[dict] = None,
        out_indices: Sequence[int] = (1, 2, 3, 4),
        bev: Optional[dict] = None,
        num_cams: int = 1,
        img_anchors: Tuple[int, int] = (2, 8),
        bev_anchors: Tuple[int, int] = (8, 8),
        fusion_layers: int = 1,
        fusion_heads: int = 4,
        fusion_dropout: float = 0.0,
        grid_size: int = 8,
        out_channels: int = 256,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.bev_cfg = dict(bev or {})
        bev_grid_shape(
            self.bev_cfg.get('x_range', (-32.0, 32.0)),
            self.bev_cfg.get('y_range', (-32.0, 32.0)),
            self.bev_cfg.get('resolution', 0.25),
        )  # fail early on a bad range
        bev_chans = 2 if self.bev_cfg.get('use_ground_plane', True) else 1
        kwargs = dict(backbone_kwargs or {})
        self.image_encoder = _create_backbone(image_backbone, image_checkpoint, 3, out_indices, kwargs)
        self.lidar_encoder = _create_backbone(lidar_backbone, lidar_checkpoint, bev_chans, out_indices, kwargs)
        img_ch = self.image_encoder.feature_info.channels()
        bev_ch = self.lidar_encoder.feature_info.channels()
        if len(img_ch) != len(bev_ch):
            raise ValueError(
                f'TransFuserBEVEncoder: {image_backbone!r} gives {len(img_ch)} stages but '
                f'{lidar_backbone!r} gives {len(bev_ch)} for out_indices={tuple(out_indices)}'
            )
        self.num_cams = num_cams
        self.fusions = nn.ModuleList(
            CameraBEVFusionBlock(
                ci, cb, num_cams, img_anchors, bev_anchors, fusion_layers, fusion_heads, fusion_dropout
            )
            for ci, cb in zip(img_ch, bev_ch)
        )
        self.grid_size = grid_size
        self.out_channels = out_channels
        self.bev_feat_channels = bev_ch[-1]
        self.out_proj = nn.Conv2d(bev_ch[-1], out_channels, kernel_size=1)

    def rasterize(self, points: List[Tensor], device: torch.device) -> Tensor:
        """(B, 1 or 2, H, W) BEV histogram of the clouds (see :func:`lidar_to_bev_histogram`)."""
        return lidar_to_bev_histogram(points, device=device, **self.bev_cfg)

    def forward(self, imgs: Tensor, points: Sequence[Tensor]) -> Tensor:
        """Encode one batch.

        Args:
            imgs (Tensor): (B, N_cam, 3, H, W) normalised float images.
            points (Sequence[Tensor]): B clouds, each (N_i, C >= 3) float (x, y, z, ...) in the ego frame
                (x forward, y left, metres); empty clouds are allowed.

        Returns:
            Tensor: (B, G*G, out_channels) BEV tokens, row-major over the BEV grid.
        """
        if imgs.dim() != 5:
            raise ValueError(f'TransFuserBEVEncoder: imgs must be (B, N_cam, 3, H, W), got {tuple(imgs.shape)}')
        bsz, n_cam = imgs.shape[:2]
        if len(points) != bsz:
            raise ValueError(f'TransFuserBEVEncoder: {len(points)} point clouds for a batch of {bsz} images')
        with torch.no_grad():
            bev = self.rasterize(list(points), imgs.device).to(imgs.dtype)
        img = imgs.flatten(0, 1)
        img_layers = iter(self.image_encoder.items())
        bev_layers = iter(self.lidar_encoder.items())
        for fusion in self.fusions:
            img = _run_until_return(img_layers, self.image_encoder.return_layers, img)
            bev = _run_until_return(bev_layers, self.lidar_encoder.return_layers, bev)
            img, bev = fusion(img, bev, n_cam)
        tokens = self.out_proj(F.adaptive_avg_pool2d(bev, self.grid_size))
        return tokens.flatten(2).transpose(1, 2)
