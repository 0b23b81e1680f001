# Copyright (c) mmautomot contributors. All rights reserved.
"""DriveMoE: Drive-pi0 + a camera router (vision MoE) + skill experts in the action expert (action MoE)."""

from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from mmautomot.models.moe import MoEFFN, moe_aux_losses, share_routing
from mmautomot.registry import MODELS

from .drive_pi0 import DrivePi0


@MODELS.register_module()
class DriveMoE(DrivePi0):
    """DriveMoE end-to-end driving model.

    Paper: Yang et al., "DriveMoE: Mixture-of-Experts for Vision-Language-Action Model in End-to-End
    Autonomous Driving". On top of :class:`DrivePi0`:

    * vision MoE: a :class:`mmautomot.models.moe.CameraRouter` reads the goal point and the current front
      view's vision tokens and picks one of the candidate views (``inputs['imgs'][:, candidate_views]``,
      FL, FR, BACK, BL, BR); its tokens, plus a learned view embedding, follow the front history in the
      VLM prefix. Training: every candidate is encoded and the view is picked by a straight-through hard
      Gumbel-softmax (gradient reaches the router); inference: argmax, and ONLY the chosen view of each
      sample goes through the vision encoder (two encoder calls per batch: front history, chosen views).
    * action MoE: the AE's FFN in the configured layers is a :class:`mmautomot.models.moe.MoEFFN`
      (``mot.ae.mlp`` / ``mot.ae.mlp_layers``). With ``share_action_routing`` the first MoE layer routes
      (trajectory-level router: one routing per sample) and the later ones reuse it (the released code's
      scheme); the routing is recomputed at every flow step.
    * stage 2 (``router_supervision=True``): focal losses on the camera router (``camera_label``) and on
      the action router (``scenario_label``; sample-level logits = the mean over the action tokens), both
      from the data samples' metainfo; samples with label -1 are ignored.

    ``predict`` also writes ``pred_camera_index`` (index into ``candidate_views``) and
    ``pred_camera_logits``; :meth:`sample_actions` returns them in ``extras``.

    Args:
        camera_router (dict): ``CameraRouter`` config without ``embed_dims`` (the VLM width).
        candidate_views (Sequence[int]): indices into ``inputs['imgs']`` of the routable views, in label
            order. Defaults to (0, 1, 2, 3, 4).
        share_action_routing (bool): route once in the first MoE layer. Defaults to True.
        router_supervision (bool): stage 2 focal-loss supervision. Defaults to False (stage 1).
        camera_loss (dict): camera-router loss config. Defaults to a ``SoftmaxFocalLoss`` (gamma 2, weight 5).
        action_router_loss (dict): action-router loss config. Defaults to ``SoftmaxFocalLoss`` (gamma 2,
            weight 5).
        aux_loss_weight (float): weight of the MoE load-balancing losses (only when the MoE FFNs compute
            them, ``aux_loss=True``). Defaults to 0.01.
        view_teacher_forcing (bool): in training, encode the view named by each sample's ``camera_label``
            instead of the router's pick (the released stage-2 recipe); the router then learns from its loss
            only. Defaults to False.
        **kwargs: :class:`DrivePi0` arguments (``extra_views`` must stay empty).
    """

    def __init__(
        self,
        camera_router: Optional[dict] = None,
        candidate_views: Sequence[int] = (0, 1, 2, 3, 4),
        share_action_routing: bool = True,
        router_supervision: bool = False,
        camera_loss: Optional[dict] = None,
        action_router_loss: Optional[dict] = None,
        aux_loss_weight: float = 0.01,
        view_teacher_forcing: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if self.extra_views:
            raise ValueError('DriveMoE: extra_views must be empty (the routed view replaces fixed views)')
        self.candidate_views = tuple(int(v) for v in candidate_views)
        width = self.vlm.head_geometry['hidden_size']
        self.camera_router = MODELS.build(
            dict(
                dict(type='CameraRouter', **(camera_router or {})),
                embed_dims=width,
                num_views=len(self.candidate_views),
            )
        )
        self.view_embed = nn.Embedding(len(self.candidate_views), width)
        nn.init.normal_(self.view_embed.weight, std=0.02)
        self.moe_layers = [m for m in self.mot.ae_layers.modules() if isinstance(m, MoEFFN)]
        if share_action_routing and self.moe_layers:
            for m in self.moe_layers[1:]:
                m.router = None  # drop the unused routers (their parameters would never get a gradient)
            share_routing(self.moe_layers)
        self.router_supervision = router_supervision
        self.camera_loss = MODELS.build(camera_loss or dict(type='SoftmaxFocalLoss', gamma=2.0, loss_weight=5.0))
        self.action_router_loss = MODELS.build(
            action_router_loss or dict(type='SoftmaxFocalLoss', gamma=2.0, loss_weight=5.0)
        )
        self.aux_loss_weight = float(aux_loss_weight)
        self.view_teacher_forcing = view_teacher_forcing

    @property
    def num_routed_views(self) -> int:
        return 1

    def vision_features(
        self, inputs: dict, data_samples: Optional[list] = None, pixels: Optional[dict] = None
    ) -> Dict[str, object]:
        """Front history (one encoder call) -> router -> routed view (a second call: all candidates in
        training, only the chosen view per sample at inference or with view teacher forcing). ``pixels``: the
        pipeline's processed images (see :meth:`DrivePi0.vision_features`), else ``img_hist`` / ``imgs``."""
        num_views = len(self.candidate_views)
        if pixels is None:
            self._check(inputs, ('img_hist', 'imgs', 'target_point'))
            hist = self._encode(inputs['img_hist'])
            cands = inputs['imgs'][:, list(self.candidate_views)]
            bsz = cands.shape[0]
        else:
            self._check(inputs, ('target_point',))
            bsz, n = pixels['batch_size'], pixels['num_images']
            hist = self._encode(pixels=self.pick_pixels(pixels['prefix'], bsz, n, slice(0, n - 1)), shape=(bsz, n - 1))

        def encode_views(idx=None):  # all candidates (idx None) or one view per sample (idx (B,))
            if pixels is None:
                one = None if idx is None else cands[torch.arange(bsz, device=cands.device), idx][:, None]
                return self._encode(cands if idx is None else one)
            if idx is None:
                return self._encode(pixels=pixels['views'], shape=(bsz, num_views))
            return self._encode(pixels=self.pick_pixels(pixels['views'], bsz, num_views, idx), shape=(bsz, 1))

        logits = self.camera_router(hist['embeds'][:, -1], inputs['target_point'].float())
        labels = None
        if self.training and self.view_teacher_forcing and data_samples is not None:
            labels = self._labels(data_samples, 'camera_label', logits.device)
        if labels is not None and (labels >= 0).all():  # the labelled view is encoded (router: focal loss)
            idx = labels.long()
            w = torch.nn.functional.one_hot(idx, num_views).to(logits.dtype)
            allv = encode_views(idx)

            def pick(t):
                return t
        elif self.training:
            w, idx = self.camera_router.select(logits)  # straight-through hard Gumbel-softmax
            allv = encode_views()

            def pick(t):  # (B, V, n, C) -> (B, 1, n, C), gradient into the router through w
                return torch.einsum('bv,bvnc->bnc', w.to(t.dtype), t)[:, None]
        else:
            w, idx = self.camera_router.select(logits, hard_gumbel=False)
            allv = encode_views(idx)

            def pick(t):
                return t

        view = self.view_embed(idx)[:, None, None]
        embeds = torch.cat([hist['embeds'], pick(allv['embeds']) + view.to(hist['embeds'].dtype)], dim=1)
        deepstack = [torch.cat([h, pick(a)], dim=1) for h, a in zip(hist['deepstack'], allv['deepstack'])]
        return dict(
            embeds=embeds, deepstack=deepstack, extras=dict(camera_logits=logits, camera_index=idx, camera_weights=w)
        )

    def action_router_logits(self) -> Optional[Tensor]:
        """(B, E) sample-level logits of the first routing MoE layer (last forward), mean over actions."""
        if not self.moe_layers or self.moe_layers[0].routing.logits is None:
            return None
        return self.moe_layers[0].routing.logits[:, -self.head.horizon :].mean(dim=1)

    def _labels(self, data_samples: list, key: str, device) -> Optional[Tensor]:
        if not all(key in ds for ds in data_samples):
            return None
        return torch.tensor([int(getattr(ds, key)) for ds in data_samples], device=device)

    def extra_losses(self, extras: dict, data_samples: list) -> Dict[str, Tensor]:
        losses = {}
        if self.router_supervision:
            logits = extras['camera_logits']
            cam = self._labels(data_samples, 'camera_label', logits.device)
            if cam is None:
                raise KeyError(
                    'DriveMoE: router_supervision=True needs camera_label in every data sample '
                    '(add BuildDriveMoELabels and the key to PackDrivingInputs.meta_keys)'
                )
            losses['loss_camera_router'] = self.camera_loss(logits, cam)
            act = self.action_router_logits()
            if act is not None:
                sc = self._labels(data_samples, 'scenario_label', act.device)
                if sc is None:
                    raise KeyError('DriveMoE: router_supervision=True needs scenario_label in every data sample')
                losses['loss_action_router'] = self.action_router_loss(act, sc)
        aux = moe_aux_losses(self.mot)
        if aux:
            losses['loss_moe_balance'] = self.aux_loss_weight * torch.stack(aux).sum()
        return losses

    def fill_extras(self, data_sample, extras: dict, i: int) -> None:
        data_sample.pred_camera_index = int(extras['camera_index'][i])
        data_sample.pred_camera_logits = extras['camera_logits'][i].detach().float().cpu()
