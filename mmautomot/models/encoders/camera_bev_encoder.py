# Copyright (c) mmautomot contributors. All rights reserved.
"""Camera-only BEV tokens: learned BEV-grid queries attending to the camera features (no LiDAR)."""

import math
from typing import Optional, Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmautomot.registry import MODELS

from .transfuser_bev_encoder import _create_backbone


def sine_position_2d(h: int, w: int, dim: int, device=None, dtype=torch.float32) -> Tensor:
    """(h*w, dim) fixed 2D sine/cosine embedding of the image cells, row-major (DETR-style, normalised
    coordinates): the first half encodes the row, the second half the column."""
    if dim % 4:
        raise ValueError(f'sine_position_2d: dim must be a multiple of 4, got {dim}')
    q = dim // 4
    freq = 1.0 / (10000 ** (torch.arange(q, device=device, dtype=torch.float32) / q))
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h * 2 * math.pi
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w * 2 * math.pi
    py, px = ys[:, None] * freq, xs[:, None] * freq  # (h, q), (w, q)
    ey = torch.cat([py.sin(), py.cos()], dim=1)[:, None].expand(h, w, 2 * q)
    ex = torch.cat([px.sin(), px.cos()], dim=1)[None].expand(h, w, 2 * q)
    return torch.cat([ey, ex], dim=-1).reshape(h * w, dim).to(dtype)


@MODELS.register_module()
class CameraQueryBEVEncoder(BaseModule):
    """Encode the current camera images (no LiDAR) into a G x G grid of BEV tokens.

    The camera-only ablation of AutoMoT's action expert keeps its token layout (G*G BEV tokens ahead of the
    target-point, speed and query tokens) and replaces the camera + LiDAR fusion of
    :class:`TransFuserBEVEncoder` by: a timm CNN on every camera (its last feature stage), a 1 x 1 projection
    to ``embed_dims`` plus a fixed 2D sine embedding of the image cell and a learned camera embedding, and G*G
    learned BEV queries (one per ego-frame grid cell, row-major, token 0 = front-left) that read the camera
    tokens through ``num_layers`` transformer decoder layers (self-attention among the queries,
    cross-attention to the cameras; Vaswani et al., 2017). Without depth or calibration the grid geometry is
    learned, not projected (a BEVFormer-style geometric lifting would need ``cam2img`` / ``lidar2cam``).

    Tensor contract (same as :class:`TransFuserBEVEncoder`): ``forward(imgs, points)`` returns
    (B, G*G, out_channels). ``points`` is ignored (it may be None: the pipeline need not load LiDAR).

    Args:
        image_backbone (str): timm name of the camera CNN. Defaults to ``'resnet18'``.
        image_checkpoint (str, optional): local state-dict file of the camera CNN (no download).
        backbone_kwargs (dict, optional): extra kwargs of ``timm.create_model``.
        out_index (int): backbone stage read (timm ``out_indices``). Defaults to 4 (stride 32).
        num_cams (int): maximum number of cameras (learned camera embeddings). Defaults to 1.
        embed_dims (int): attention width. Defaults to 256.
        num_layers (int): decoder layers. Defaults to 2.
        num_heads (int): attention heads. Defaults to 8.
        ffn_ratio (int): FFN width / ``embed_dims``. Defaults to 4.
        dropout (float): dropout in the decoder. Defaults to 0.
        grid_size (int): G, the tokens are G x G. Defaults to 8.
        out_channels (int): token width. Defaults to 256.
        init_cfg (dict, optional): mmengine init config.
    """

    #: the ``inputs`` keys this encoder reads (AutoMoT checks them).
    input_keys = ('imgs',)

    def __init__(
        self,
        image_backbone: str = 'resnet18',
        image_checkpoint: Optional[str] = None,
        backbone_kwargs: Optional[dict] = None,
        out_index: int = 4,
        num_cams: int = 1,
        embed_dims: int = 256,
        num_layers: int = 2,
        num_heads: int = 8,
        ffn_ratio: int = 4,
        dropout: float = 0.0,
        grid_size: int = 8,
        out_channels: int = 256,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.image_encoder = _create_backbone(
            image_backbone, image_checkpoint, 3, (out_index,), dict(backbone_kwargs or {})
        )
        img_ch = self.image_encoder.feature_info.channels()[-1]
        self.num_cams, self.grid_size, self.out_channels = num_cams, grid_size, out_channels
        self.embed_dims = embed_dims
        self.img_proj = nn.Conv2d(img_ch, embed_dims, kernel_size=1)
        self.cam_embed = nn.Parameter(torch.zeros(num_cams, embed_dims))
        self.bev_queries = nn.Parameter(torch.randn(grid_size * grid_size, embed_dims) * 0.02)
        layer = nn.TransformerDecoderLayer(
            embed_dims, num_heads, embed_dims * ffn_ratio, dropout, batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, num_layers, norm=nn.LayerNorm(embed_dims))
        self.out_proj = nn.Linear(embed_dims, out_channels)

    def forward(self, imgs: Tensor, points: Optional[Sequence[Tensor]] = None) -> Tensor:
        """Encode one batch.

        Args:
            imgs (Tensor): (B, N_cam, 3, H, W) normalised float images, N_cam <= ``num_cams``.
            points: ignored.

        Returns:
            Tensor: (B, G*G, out_channels) BEV tokens, row-major over the BEV grid.
        """
        if imgs is None or imgs.dim() != 5:
            raise ValueError(
                'CameraQueryBEVEncoder: imgs must be (B, N_cam, 3, H, W), got '
                f'{None if imgs is None else tuple(imgs.shape)}'
            )
        bsz, n_cam = imgs.shape[:2]
        if n_cam > self.num_cams:
            raise ValueError(f'CameraQueryBEVEncoder: {n_cam} cameras but num_cams={self.num_cams}')
        feat = self.img_proj(self.image_encoder(imgs.flatten(0, 1))[-1])  # (B*N, D, h, w)
        h, w = feat.shape[-2:]
        tokens = feat.flatten(2).transpose(1, 2).reshape(bsz, n_cam, h * w, self.embed_dims)
        tokens = tokens + sine_position_2d(h, w, self.embed_dims, feat.device, feat.dtype)
        tokens = tokens + self.cam_embed[:n_cam, None].to(feat.dtype)
        queries = self.bev_queries[None].expand(bsz, -1, -1).to(feat.dtype)
        out = self.decoder(queries, tokens.reshape(bsz, n_cam * h * w, self.embed_dims))
        return self.out_proj(out)
