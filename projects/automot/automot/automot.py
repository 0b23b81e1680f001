# Copyright (c) mmautomot contributors. All rights reserved.
"""AutoMoT: Qwen3-VL understanding expert + action expert, joined layer by layer."""

from typing import Dict, List, Mapping, Optional, Sequence

import torch
from mmengine.model import BaseModel
from torch import Tensor

from mmautomot.models.mot import PrefixKVCache
from mmautomot.registry import MODELS
from mmautomot.structures import ue_user_text


@MODELS.register_module()
class AutoMoT(BaseModel):
    """AutoMoT end-to-end driving model.

    Paper: "AutoMoT: A Unified Vision-Language-Action Model with Asynchronous Mixture-of-Transformers for
    End-to-End Autonomous Driving". A Qwen3-VL understanding expert (UE; front-camera history + prompt) and an
    action expert (AE; BEV, target point, speed tokens and learned queries) share a joint attention at every
    layer (:class:`mmautomot.models.mot.MoTTransformer`). Decision queries feed a meta-action head (lateral,
    longitudinal per horizon), route queries a spatial-path head and waypoint queries a temporal trajectory
    head, all in the ego frame (x forward, y left, metres).

    Training (``mode='loss'``) and synchronous prediction run the joint pass; :meth:`ue_tick` /
    :meth:`ae_tick` split it for asynchronous inference (the AE reads the UE's prefix KV cache).

    Args:
        mot (dict): :class:`MoTTransformer` kwargs (``ue``, ``ae``, ``cache_capacity``).
        bev_encoder (dict): BEV encoder config, ``forward(imgs, points)`` -> (B, G*G, out_channels)
            (``TransFuserBEVEncoder``, ``PointPillarsBEVEncoder`` (LiDAR only), ``CameraQueryBEVEncoder``
            (camera only)); its optional ``input_keys`` name the inputs it reads (default imgs and points).
        tokens (dict): AE token builder kwargs without ``hidden_size`` / ``bev_channels``; ``type`` defaults
            to :class:`AutoMoTActionTokens` (``'ReleasedActionTokens'``: the released code's tokens).
        meta_action_head (dict): ``MetaActionHead`` config (``in_channels`` is set to the AE width). A head
            with ``bind_lm_head`` (``LMHeadDecisionHead``, the released decisions) gets the UE's ``lm_head``.
        path_head (dict): ``TrajectoryHead`` config for the route queries.
        traj_head (dict): ``TrajectoryHead`` config for the waypoint queries.
        refiner (dict | None): optional action refiner (AutoMoT+), e.g. ``dict(type='DiTMoARefiner', ...)``
            (:mod:`mmautomot.models.refiners`). Its ``cond_sources`` name AE token groups of
            :meth:`AutoMoTActionTokens.slices` ('bev', 'target', 'speed', 'decision', 'route', 'waypoint');
            ``cond_channels`` (AE width) and ``num_waypoints`` (``traj_head.num_points``) are filled in. When
            set: :meth:`loss` adds ``loss_refine``; :meth:`predict` writes the refined waypoints to
            ``pred_ego_fut_trajs`` and the AE proposal to ``pred_ego_fut_trajs_proposal``; the model exposes
            ``refiner_tick(inputs, ae_out)`` and ``has_refiner`` is True. Defaults to None.
        velocity_head (dict | None): optional future-speed head on the speed token (released AutoMoT:
            ``ReleasedVelocityHead``); adds ``velocity`` (B, 3) to the outputs and ``loss_velocity``.
            Defaults to None.
        refiner_detach_proposal (bool): stop the refiner loss's gradient through the AE proposal (the
            condition tokens stay attached). Defaults to True.
        require_vlm_inputs (bool): refuse inputs without the pipeline's UE tensors (``inputs['vlm_inputs']``
            from ``ProcessVLMInputs``) instead of tokenising and processing the frames in ``forward``. Defaults to
            False (both work; the pipeline's are used when present).
        data_preprocessor (dict | None): e.g. ``DrivingDataPreprocessor``.
        init_cfg (dict | None): mmengine init config.
    """

    def __init__(
        self,
        mot: dict,
        bev_encoder: dict,
        meta_action_head: dict,
        path_head: dict,
        traj_head: dict,
        tokens: Optional[dict] = None,
        refiner: Optional[dict] = None,
        refiner_detach_proposal: bool = True,
        velocity_head: Optional[dict] = None,
        require_vlm_inputs: bool = False,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        mot = dict(mot)
        mot.setdefault('type', 'MoTTransformer')
        self.mot = MODELS.build(mot)
        width = self.mot.ae_hidden_size
        self.bev_encoder = MODELS.build(bev_encoder)
        tokens = dict(tokens or {})
        tokens.setdefault('type', 'AutoMoTActionTokens')
        self.tokens = MODELS.build(dict(tokens, hidden_size=width, bev_channels=self.bev_encoder.out_channels))
        self.meta_action_head = MODELS.build(dict(meta_action_head, in_channels=width))
        if hasattr(self.meta_action_head, 'bind_lm_head'):
            self.meta_action_head.bind_lm_head(self.mot.ue.core.lm_head, getattr(self.mot.ue, 'tokenizer', None))
        self.velocity_head = None
        if velocity_head is not None:
            self.velocity_head = MODELS.build(dict(velocity_head, in_channels=width))
        self.path_head = MODELS.build(dict(path_head, in_channels=width))
        self.traj_head = MODELS.build(dict(traj_head, in_channels=width))
        self.require_vlm_inputs = require_vlm_inputs
        self.refiner = None
        self.refiner_detach_proposal = refiner_detach_proposal
        if refiner is not None:
            refiner = dict(refiner)
            if not isinstance(refiner.get('cond_sources'), Mapping):  # names only: all AE-width tokens
                refiner.setdefault('cond_channels', width)
            refiner.setdefault('num_waypoints', self.tokens.num['waypoint'])
            self.refiner = MODELS.build(refiner)
            unknown = [k for k in self.refiner.cond_sources if k not in self.tokens.slices()]
            if unknown:
                raise KeyError(
                    f'AutoMoT: refiner cond_sources {unknown} are not AE token groups {list(self.tokens.slices())}'
                )

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def _check(inputs: dict, keys: Sequence[str]) -> None:
        missing = [k for k in keys if k not in inputs]
        if missing:
            raise KeyError(
                f'AutoMoT: inputs lack {missing}; got keys {sorted(inputs)} '
                '(expected the DrivingDataPreprocessor output)'
            )

    def prompts(self, inputs: dict, data_samples: Optional[list] = None) -> List[str]:
        """UE user texts: ``data_sample.prompt`` (metainfo), ``inputs['prompt']``, or built from the
        navigation command and speed (:func:`mmautomot.structures.ue_user_text`, also used by the
        ``ProcessVLMInputs`` pipeline transform)."""
        bsz = inputs['img_hist'].shape[0]
        if data_samples is not None and all('prompt' in ds for ds in data_samples):
            return [ds.prompt for ds in data_samples]
        if 'prompt' in inputs:
            p = inputs['prompt']
            return [p] * bsz if isinstance(p, str) else list(p)
        self._check(inputs, ('command', 'ego_status'))
        return [ue_user_text(None, int(c), float(s)) for c, s in zip(inputs['command'], inputs['ego_status'][:, 0])]

    def ue_inputs(self, inputs: dict, data_samples: Optional[list] = None) -> Dict[str, Tensor]:
        """The UE batch (``prepare_inputs`` layout). When the pipeline computed it (``ProcessVLMInputs``:
        ``inputs['vlm_inputs']``, a list of per-sample dicts) it is only batched (right padded); otherwise
        (old configs, direct calls with ``img_hist``) the prompt is tokenised and the frames processed here."""
        if 'vlm_inputs' in inputs:
            return self.mot.ue.collate_inputs(inputs['vlm_inputs'])
        if self.require_vlm_inputs:
            raise KeyError(
                f"AutoMoT: inputs lack 'vlm_inputs' (require_vlm_inputs=True; got {sorted(inputs)}); add "
                "dict(type='ProcessVLMInputs', ue=<the model's mot.ue>) to the pipeline before PackDrivingInputs"
            )
        self._check(inputs, ('img_hist',))
        return self.mot.ue.prepare_inputs(inputs['img_hist'], self.prompts(inputs, data_samples))

    def ae_inputs(self, inputs: dict) -> Tensor:
        """(B, L_a, C_a) action-expert tokens."""
        # the encoder's ``input_keys``: a LiDAR-only or camera-only encoder needs only its own sensor
        self._check(
            inputs,
            tuple(getattr(self.bev_encoder, 'input_keys', ('imgs', 'points')))
            + ('target_point', 'ego_status', 'command'),
        )
        bev = self.bev_encoder(inputs.get('imgs'), inputs.get('points'))
        dtype = self.mot.ae_norm.weight.dtype
        return self.tokens(bev, inputs['target_point'], inputs['ego_status'], inputs['command']).to(dtype)

    def _heads(self, ae_out: Tensor, inputs: dict) -> Dict[str, Tensor]:
        """Decision, route and waypoint tokens -> meta-action logits, path, waypoints. The ego speed
        (``ego_status[:, 0]``) is passed to the trajectory heads for their optional kinematic prior."""
        s = self.tokens.slices()
        speed = inputs['ego_status'][:, 0]
        logits = self.meta_action_head(ae_out[:, s['decision']])
        out = dict(
            meta_action_logits=logits,
            path=self.path_head(ae_out[:, s['route']], speed),
            waypoints=self.traj_head(ae_out[:, s['waypoint']], speed),
        )
        if self.velocity_head is not None:
            out['velocity'] = self.velocity_head(ae_out[:, s['speed']][:, 0])
        return out

    def refiner_cond(self, ae_tokens: Tensor) -> Dict[str, Tensor]:
        """The refiner's condition sources: AE output token groups, name -> (B, L_s, C_a)."""
        s = self.tokens.slices()
        return {k: ae_tokens[:, s[k]] for k in self.refiner.cond_sources}

    # ------------------------------------------------------------------ passes
    def joint_tokens(self, inputs: dict, data_samples: Optional[list] = None) -> Tensor:
        """Synchronous joint pass up to the AE output tokens (B, L_a, C_a)."""
        _, ae_out = self.mot.forward_joint(
            self.ue_inputs(inputs, data_samples), self.ae_inputs(inputs), self.tokens.group_sizes
        )
        return ae_out

    def joint(self, inputs: dict, data_samples: Optional[list] = None) -> Dict[str, Tensor]:
        """Synchronous joint pass (AutoMoT-S): dict of ``meta_action_logits`` (B, K, n_lat + n_lon),
        ``path`` (B, P, 2), ``waypoints`` (B, T, 2) (the AE's, unrefined)."""
        return self._heads(self.joint_tokens(inputs, data_samples), inputs)

    @torch.no_grad()
    def ue_tick(
        self,
        inputs: dict,
        cache: Optional[PrefixKVCache] = None,
        data_samples: Optional[list] = None,
        tick: Optional[int] = None,
    ) -> PrefixKVCache:
        """Run the understanding expert and (re)fill the prefix KV cache (allocated when ``cache`` is None).

        Args:
            inputs (dict): preprocessed inputs; uses ``img_hist`` and the prompt (or ``command`` and
                ``ego_status``).
        """
        return self.mot.ue_refresh(self.ue_inputs(inputs, data_samples), cache=cache, tick=tick)

    def ae_tick(self, inputs: dict, cache: PrefixKVCache) -> Dict[str, Tensor]:
        """Run the action expert against a filled cache (read-only).

        Returns:
            dict: ``meta_action_logits`` (B, K, n_lat + n_lon), ``meta_actions`` (B, K, 2) long, ``path``
            (B, P, 2), ``waypoints`` (B, T, 2), ego frame metres, and ``ae_tokens`` (B, L_a, C_a), the AE
            output tokens (what ``refiner_tick`` reads).
        """
        ae_tokens = self.mot.ae_step(self.ae_inputs(inputs), cache, self.tokens.group_sizes)
        out = self._heads(ae_tokens, inputs)
        out['meta_actions'] = self.meta_action_head.predict(out['meta_action_logits'])
        out['ae_tokens'] = ae_tokens
        return out

    @property
    def has_refiner(self) -> bool:
        """Whether the model refines its waypoints (AutoMoT+): ``Driver`` and ``benchmark_latency`` then run
        :meth:`refiner_tick` after every AE tick."""
        return self.refiner is not None

    @torch.no_grad()
    def refiner_tick(
        self, inputs: dict, ae_out: Dict[str, Tensor], generator: Optional[torch.Generator] = None
    ) -> Dict[str, Tensor]:
        """Refine the AE waypoints of an :meth:`ae_tick` output.

        Args:
            inputs (dict): the preprocessed inputs of the tick (unused by the current refiner; part of the
                interface so refiners may read e.g. ``ego_status``).
            ae_out (dict): :meth:`ae_tick` output (needs ``ae_tokens`` and ``waypoints``).
            generator (torch.Generator | None): refiner start noise (None = the refiner's fixed seed).

        Returns:
            dict: ``ae_out`` with ``waypoints`` (B, T, 2) refined and ``waypoints_proposal`` (B, T, 2) the AE's.
        """
        if self.refiner is None:
            raise RuntimeError(
                f'{type(self).__name__}.refiner_tick: the model was built without a refiner (check has_refiner)'
            )
        missing = [k for k in ('ae_tokens', 'waypoints') if k not in ae_out]
        if missing:
            raise KeyError(f'AutoMoT.refiner_tick: ae_out lacks {missing} (pass the ae_tick output)')
        proposal = ae_out['waypoints']
        refined = self.refiner.refine(self.refiner_cond(ae_out['ae_tokens']), proposal, generator=generator)
        return dict(ae_out, waypoints=refined, waypoints_proposal=proposal)

    # ------------------------------------------------------------------ BaseModel API
    def forward(self, inputs: dict, data_samples: Optional[list] = None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.joint(inputs, data_samples)
        raise ValueError(f"AutoMoT.forward: mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    @staticmethod
    def _stack(data_samples: list, key: str, device) -> Optional[Tensor]:
        have = [key in ds for ds in data_samples]
        if not any(have):
            return None
        if not all(have):
            raise KeyError(f'AutoMoT.loss: {key!r} is set in some data samples of the batch but not all')
        return torch.stack([torch.as_tensor(getattr(ds, key)) for ds in data_samples]).to(device)

    def loss(self, inputs: dict, data_samples: list) -> Dict[str, Tensor]:
        """Meta-action cross-entropy + path and waypoint regression (weights in the head configs), plus
        ``loss_refine`` with a refiner (proposal = the AE waypoints, detached if ``refiner_detach_proposal``)."""
        ae_tokens = self.joint_tokens(inputs, data_samples)
        out = self._heads(ae_tokens, inputs)
        dev = out['path'].device
        losses = {}
        gt_meta = self._stack(data_samples, 'gt_meta_actions', dev)
        if gt_meta is not None:
            losses.update(self.meta_action_head.loss(out['meta_action_logits'], gt_meta.long()))
        gt_path = self._stack(data_samples, 'gt_ego_path', dev)
        if gt_path is not None:
            mask = self._stack(data_samples, 'gt_ego_path_masks', dev)
            losses.update(self.path_head.loss(out['path'], gt_path.float(), mask, prefix='path'))
        gt_traj = self._stack(data_samples, 'gt_ego_fut_trajs', dev)
        if gt_traj is not None:
            mask = self._stack(data_samples, 'gt_ego_fut_masks', dev)
            losses.update(self.traj_head.loss(out['waypoints'], gt_traj.float(), mask, prefix='traj'))
            if self.refiner is not None:
                proposal = out['waypoints'].float()
                proposal = proposal.detach() if self.refiner_detach_proposal else proposal
                losses.update(self.refiner.loss(self.refiner_cond(ae_tokens), proposal, gt_traj.float(), mask))
        if self.velocity_head is not None:
            gt_speed = self._stack(data_samples, 'gt_future_speeds', dev)
            valid = None
            if gt_speed is None and gt_traj is not None:
                gt_speed, valid = self.velocity_head.speeds_from_traj(
                    gt_traj.float(), self._stack(data_samples, 'gt_ego_fut_masks', dev)
                )
            if gt_speed is not None:
                losses.update(self.velocity_head.loss(out['velocity'], gt_speed.float(), valid))
        if not losses:
            raise KeyError('AutoMoT.loss: data samples carry none of gt_meta_actions, gt_ego_path, gt_ego_fut_trajs')
        return losses

    def predict(self, inputs: dict, data_samples: list) -> list:
        """Fill ``pred_meta_actions``, ``pred_meta_action_logits``, ``pred_ego_path`` and
        ``pred_ego_fut_trajs`` (ego frame) into the data samples (synchronous joint pass). With a refiner,
        ``pred_ego_fut_trajs`` is the refined trajectory and ``pred_ego_fut_trajs_proposal`` the AE's."""
        ae_tokens = self.joint_tokens(inputs, data_samples)
        out = self._heads(ae_tokens, inputs)
        proposal = None
        if self.refiner is not None:
            proposal = out['waypoints']
            out['waypoints'] = self.refiner.refine(self.refiner_cond(ae_tokens), proposal.float())
        actions = self.meta_action_head.predict(out['meta_action_logits'])
        for i, ds in enumerate(data_samples):
            ds.pred_meta_actions = actions[i].detach().cpu()
            ds.pred_meta_action_logits = out['meta_action_logits'][i].detach().cpu()
            ds.pred_ego_path = out['path'][i].detach().float().cpu()
            ds.pred_ego_fut_trajs = out['waypoints'][i].detach().float().cpu()
            if proposal is not None:
                ds.pred_ego_fut_trajs_proposal = proposal[i].detach().float().cpu()
        return data_samples

    def count_params(self) -> Dict[str, int]:
        """``ue_params`` (Qwen3-VL incl. vision), ``ae_params`` (AE transformer layers + final norm),
        ``other_params`` (BEV encoder, token embeddings, heads, refiner) and ``total_params``; with a refiner
        also ``refiner_params`` (included in ``other_params``)."""
        counts = self.mot.count_params()
        total = sum(p.numel() for p in self.parameters())
        if self.refiner is not None:
            counts['refiner_params'] = sum(p.numel() for p in self.refiner.parameters())
        counts['other_params'] = total - counts['ue_params'] - counts['ae_params']
        counts['total_params'] = total
        return counts
