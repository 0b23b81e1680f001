# Copyright (c) mmautomot contributors. All rights reserved.
"""TransFuser-style transformer fusion of camera and LiDAR-BEV feature maps at one backbone stage."""

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CameraBEVFusionBlock(nn.Module):
    """Fuse camera and BEV feature maps with self-attention over pooled "anchor" tokens.

    As in TransFuser (Chitta et al., TPAMI 2022): each camera's map is average-pooled to
    ``img_anchors`` cells and the BEV map to ``bev_anchors`` cells; the tokens of all cameras and of the
    BEV (camera tokens projected to the BEV width ``dim``) get a learned position embedding per token
    (so per camera, too) and go through a small transformer encoder; the outputs are split, reshaped to
    the anchor grids, bilinearly upsampled to the feature sizes and **added** to both branches.

    Args:
        img_channels (int): camera feature channels at this stage.
        dim (int): BEV feature channels at this stage (the token width).
        num_cams (int): maximum number of cameras (size of the position table).
        img_anchors (tuple[int]): (h, w) pooled cells per camera.
        bev_anchors (tuple[int]): (h, w) pooled BEV cells.
        num_layers (int): transformer layers. num_heads (int): attention heads (must divide ``dim``).
        dropout (float): dropout inside the transformer.
    """

    def __init__(
        self,
        img_channels: int,
        dim: int,
        num_cams: int,
        img_anchors: Tuple[int, int],
        bev_anchors: Tuple[int, int],
        num_layers: int = 1,
        num_heads: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'CameraBEVFusionBlock: num_heads={num_heads} must divide the stage width {dim}')
        self.img_anchors, self.bev_anchors, self.num_cams = tuple(img_anchors), tuple(bev_anchors), num_cams
        self.n_img = img_anchors[0] * img_anchors[1]
        self.n_bev = bev_anchors[0] * bev_anchors[1]
        self.img_in = nn.Linear(img_channels, dim)
        self.img_out = nn.Linear(dim, img_channels)
        self.pos = nn.Parameter(torch.zeros(num_cams * self.n_img + self.n_bev, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(
            dim,
            num_heads,
            dim_feedforward=4 * dim,
            dropout=dropout,
            activation='gelu',
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, img: Tensor, bev: Tensor, num_cams: int) -> Tuple[Tensor, Tensor]:
        """Args: img (B*N_cam, C_img, h, w); bev (B, dim, h', w'); num_cams N_cam.

        Returns: the updated (img, bev) maps, same shapes.
        """
        bsz = bev.shape[0]
        if num_cams > self.num_cams:
            raise ValueError(
                f'CameraBEVFusionBlock: got {num_cams} cameras, built for at most {self.num_cams} (raise num_cams)'
            )
        img_tok = F.adaptive_avg_pool2d(img, self.img_anchors).flatten(2).transpose(1, 2)
        img_tok = self.img_in(img_tok).reshape(bsz, num_cams * self.n_img, -1)
        bev_tok = F.adaptive_avg_pool2d(bev, self.bev_anchors).flatten(2).transpose(1, 2)
        pos = torch.cat([self.pos[: num_cams * self.n_img], self.pos[-self.n_bev :]])
        tokens = self.norm(self.encoder(torch.cat([img_tok, bev_tok], dim=1) + pos))
        img_out = self.img_out(tokens[:, : num_cams * self.n_img]).reshape(bsz * num_cams, self.n_img, -1)
        img_out = img_out.transpose(1, 2).reshape(bsz * num_cams, -1, *self.img_anchors)
        bev_out = tokens[:, num_cams * self.n_img :].transpose(1, 2).reshape(bsz, -1, *self.bev_anchors)
        img = img + F.interpolate(img_out, size=img.shape[-2:], mode='bilinear', align_corners=False)
        bev = bev + F.interpolate(bev_out, size=bev.shape[-2:], mode='bilinear', align_corners=False)
        return img, bev
