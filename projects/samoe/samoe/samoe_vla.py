# Copyright (c) mmautomot contributors. All rights reserved.
"""SAMoE-VLA: a World-Language expert and a scene-adaptive MoE Planning expert under CMCA."""

import time
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor
from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLTextRMSNorm

from mmautomot.models.moe import SceneMoEFFN, link_scene_context
from mmautomot.models.mot import ActionExpertLayer, ae_position_ids, ae_rows, build_cmca_mask, mot_forward
from mmautomot.registry import MODELS

from .world_language import WorldLanguageTokens, instructions_of, vlm_text_rope

#: state-token features: (x, y) / 10 of a past position; the current-state token holds
#: (speed / 10, lon acc / 5, lat acc / 5, yaw rate), the route target point / 32 (zeros unless
#: ``use_target_point``) and the command one-hot
_STATE_DIMS = 2 + 4 + 2


@MODELS.register_module()
class SAMoEVLA(BaseModel):
    """SAMoE-VLA for end-to-end planning (first open implementation; the paper released no code).

    Paper: You et al., "SAMoE-VLA: A Scene Adaptive Mixture-of-Experts Vision-Language-Action Model for
    Autonomous Driving". Two experts share every attention under Conditional Cross-Modal Causal Attention
    (:func:`mmautomot.models.mot.build_cmca_mask`), through the one joint layer loop
    (:func:`mmautomot.models.mot.mot_forward`):

    * World-Language expert: the decoder layers of a framework VLM expert (``vlm``; the config picks the
      family) over ``[BEV tokens | soft prompts | instruction tokens]`` (one bidirectional block);
    * Planning expert: :class:`ActionExpertLayer` layers (the VLM's head geometry, own width) over
      ``[ego-state / action-history tokens | noisy action tokens]``, whose FFNs (``moe_layers``) are
      :class:`SceneMoEFFN` routed by a scene vector of the BEV (:class:`DeformableSceneEncoder`), computed
      ONCE per sample and shared by every layer's router head (and every flow step);
    * a flow-matching action head (``action_head``, ``FlowMatchingActionHead``, shared with DriveMoE).

    Our readings of unreleased details are marked "reading" in ``projects/samoe/README.md``.

    Inference: the world-language prefix runs once into a prefix KV cache; each Euler step runs only the
    Planning expert over the read-only cache.

    Tensor contract (``DrivingDataPreprocessor`` outputs): ``imgs`` (B, N_cam, 3, H, W) normalised,
    ``points`` B clouds (N_i, >=3) ego frame, ``ego_status`` (B, 4), ``ego_hist_trajs`` (B, N_h, 2),
    ``command`` (B,); optional free-text ``instruction`` in the data samples' metainfo. ``predict`` fills
    ``pred_ego_fut_trajs`` (H, 2) ego frame, metres, and ``expert_weights`` (num MoE layers, E).

    Args:
        vlm (dict): VLM expert config (e.g. ``Qwen3VLUnderstandingExpert``).
        bev_encoder (dict): BEV encoder (``TransFuserBEVEncoder``): ``forward(imgs, points) -> (B, G*G, C)``,
            exposing ``out_channels`` and ``grid_size``.
        scene_encoder (dict): :class:`DeformableSceneEncoder` kwargs (``in_channels``/``bev_shape`` filled in).
        planner (dict): ``hidden_size``, ``intermediate_size`` of the Planning expert.
        moe (dict): :class:`SceneMoEFFN` kwargs (``num_experts``, ``routing``, ``mode``, ``top_k``...);
            None = dense FFNs.
        action_head (dict): ``FlowMatchingActionHead`` config (``hidden_size``, ``proprio_dim`` filled in).
        moe_layers (Sequence[int] | None): Planning-expert layers with SA-MoE FFNs (negative from the end);
            None = all. Defaults to None.
        world (dict | None): :class:`WorldLanguageTokens` kwargs (``num_soft_prompts``,
            ``max_instruction_tokens``).
        num_hist_states (int): past ego positions (action-history tokens). Defaults to 4.
        num_commands (int): Defaults to 6.
        use_target_point (bool): put ``target_point`` (B, 2) into the current-state token (Bench2Drive's
            route target; on nuScenes it derives from the GT future and must stay off). Defaults to False.
        prior_step (float): seconds between waypoints of the constant-velocity prior the actions are
            residuals of. Defaults to 0.5.
        data_preprocessor (dict | None), init_cfg (dict | None): as mmengine.
    """

    def __init__(
        self,
        vlm: dict,
        bev_encoder: dict,
        scene_encoder: dict,
        planner: dict,
        moe: Optional[dict],
        action_head: dict,
        moe_layers: Optional[Sequence[int]] = None,
        world: Optional[dict] = None,
        num_hist_states: int = 4,
        num_commands: int = 6,
        use_target_point: bool = False,
        prior_step: float = 0.5,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.vlm = MODELS.build(vlm)
        self.bev_encoder = MODELS.build(bev_encoder)
        grid = self.bev_encoder.grid_size
        bev_ch = self.bev_encoder.out_channels
        self.scene_encoder = MODELS.build(
            dict(dict(type='DeformableSceneEncoder'), **scene_encoder, in_channels=bev_ch, bev_shape=(grid, grid))
        )
        g = self.vlm.head_geometry
        self.world = WorldLanguageTokens(bev_ch, grid * grid, g['hidden_size'], **(world or {}))
        n = g['num_layers']
        moe_set = {i % n for i in (range(n) if moe_layers is None else moe_layers)} if moe else set()
        layers = []
        for i in range(n):
            layer = ActionExpertLayer(
                planner['hidden_size'],
                planner['intermediate_size'],
                num_heads=g['num_heads'],
                num_kv_heads=g['num_kv_heads'],
                head_dim=g['head_dim'],
                rms_norm_eps=g['rms_norm_eps'],
            )
            if i in moe_set:
                layer.mlp = SceneMoEFFN(
                    planner['hidden_size'],
                    planner['intermediate_size'],
                    scene_dims=self.scene_encoder.embed_dims,
                    **moe,
                )
            layers.append(layer)
        self.plan_layers = nn.ModuleList(layers)
        self.plan_norm = Qwen3VLTextRMSNorm(planner['hidden_size'], eps=g['rms_norm_eps'])
        self.scene_context = link_scene_context(self.plan_layers)
        self.num_hist_states, self.num_commands = num_hist_states, num_commands
        self.use_target_point = use_target_point
        self.state_dim = _STATE_DIMS + num_commands
        self.head = MODELS.build(dict(action_head, hidden_size=planner['hidden_size'], proprio_dim=self.state_dim))
        self.prior_step = float(prior_step)

    # ------------------------------------------------------------------ inputs
    @property
    def group_sizes(self):
        """Planning-expert groups: (ego-state / history tokens, noisy action tokens)."""
        return (self.num_hist_states + 1, self.head.horizon)

    def _check(self, inputs: dict, keys: Sequence[str]) -> None:
        missing = [k for k in keys if k not in inputs]
        if missing:
            raise KeyError(f'SAMoEVLA: inputs lack {missing}; got keys {sorted(inputs)}')

    def state_features(self, inputs: dict) -> Tensor:
        """(B, N_h + 1, P): one token per past ego position (action history), then the current state.
        ``ego_hist_trajs`` may be absent (e.g. a closed-loop driver that does not track it): zeros then."""
        self._check(inputs, ('ego_status', 'command'))
        bsz = inputs['ego_status'].shape[0]
        hist = inputs.get('ego_hist_trajs')
        if hist is None:  # a closed-loop driver without the ego history: unknown past = zeros
            hist = inputs['ego_status'].new_zeros(bsz, self.num_hist_states, 2)
        hist = hist.float()
        if hist.shape[1:] != (self.num_hist_states, 2):
            raise ValueError(
                f'SAMoEVLA: ego_hist_trajs must be (B, {self.num_hist_states}, 2), got {tuple(hist.shape)}'
            )
        feats = hist.new_zeros(bsz, self.num_hist_states + 1, self.state_dim)
        feats[:, :-1, :2] = torch.nan_to_num(hist) / 10.0
        feats[:, -1, 2:6] = inputs['ego_status'].float().reshape(bsz, 4) / hist.new_tensor([10.0, 5.0, 5.0, 1.0])
        if self.use_target_point:
            self._check(inputs, ('target_point',))
            feats[:, -1, 6:8] = inputs['target_point'].float().reshape(bsz, 2) / 32.0
        cmd = inputs['command'].long().reshape(bsz).clamp(0, self.num_commands - 1)
        feats[:, -1, _STATE_DIMS:] = F.one_hot(cmd, self.num_commands).float()
        return feats

    def prior_points(self, inputs: dict) -> Tensor:
        """(B, H, 2) constant-velocity prior straight ahead (the actions are residuals over it)."""
        speed = inputs['ego_status'][:, 0].float()
        steps = torch.arange(1, self.head.horizon + 1, device=speed.device, dtype=torch.float32) * self.prior_step
        out = speed.new_zeros(speed.shape[0], self.head.horizon, 2)
        out[..., 0] = speed[:, None] * steps[None]
        return out

    def encode_scene(self, inputs: dict, data_samples: Optional[list] = None) -> Dict[str, Tensor]:
        """BEV once, the scene vector once (set into the shared SceneContext), the world-language tokens."""
        self._check(inputs, ('imgs', 'points', 'command'))
        bev = self.bev_encoder(inputs['imgs'], inputs['points'])
        scene = self.scene_encoder(bev)
        self.scene_context.set(scene)
        if 'vlm_inputs' in inputs:  # tokenised in the pipeline (TokenizeInstruction): only batched here
            batch = self.vlm.collate_inputs(inputs['vlm_inputs'])
            hidden, valid = self.world(self.vlm, bev, tokens=(batch['input_ids'], batch['attention_mask']))
        else:
            hidden, valid = self.world(self.vlm, bev, instructions_of(inputs['command'], data_samples))
        positions = (valid.long().cumsum(1) - 1).clamp(min=0)
        return dict(
            bev=bev,
            scene=scene,
            hidden=hidden,
            valid=valid,
            rope=vlm_text_rope(self.vlm, hidden, positions),
            next_position=valid.sum(1),
        )

    def plan_tokens(self, state: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        tokens = torch.cat([self.head.embed_proprio(state), self.head.embed_actions(x_t, t)], dim=1)
        return tokens.to(self.plan_norm.weight.dtype)

    def _plan_rope(self, tokens: Tensor, next_position: Tensor):
        """Rotary of the Planning tokens: positions continue after each sample's world-language tokens."""
        return vlm_text_rope(self.vlm, tokens, ae_position_ids(next_position, tokens.shape[1])[0])

    # ------------------------------------------------------------------ passes
    def velocity_joint(self, world: dict, state: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """Velocity (B, H, A) from one joint World-Language + Planning pass under the CMCA mask."""
        plan = self.plan_tokens(state, x_t, t)
        mask = build_cmca_mask(world['valid'], *self.group_sizes)
        _, out = mot_forward(
            self.vlm.layers,
            self.plan_layers,
            world['hidden'],
            plan,
            world['rope'],
            self._plan_rope(plan, world['next_position']),
            mask,
        )
        return self.head.velocity(self.plan_norm(out)[:, -self.head.horizon :]).float()

    def world_prefix(self, world: dict):
        """Run the World-Language expert alone into a new prefix cache (its rows of the CMCA mask)."""
        bsz, length = world['valid'].shape
        cache = self.vlm.new_cache(bsz, length)
        cache.begin_write(world['valid'], world['next_position'])
        mot_forward(
            self.vlm.layers,
            None,
            world['hidden'],
            None,
            world['rope'],
            None,
            build_cmca_mask(world['valid'], 0, 0),
            cache=cache,
            cache_mode='write',
        )
        return cache

    def velocity_cached(self, cache, state: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """Velocity (B, H, A) from the Planning expert alone over the read-only world prefix cache."""
        plan = self.plan_tokens(state, x_t, t)
        mask = ae_rows(build_cmca_mask(cache.valid(), *self.group_sizes), cache.length)
        _, out = mot_forward(
            None,
            self.plan_layers,
            None,
            plan,
            None,
            self._plan_rope(plan, cache.next_position),
            mask,
            cache=cache,
            cache_mode='read',
        )
        return self.head.velocity(self.plan_norm(out)[:, -self.head.horizon :]).float()

    @torch.no_grad()
    def sample_actions(
        self,
        inputs: dict,
        data_samples: Optional[list] = None,
        noise: Optional[Tensor] = None,
        num_steps: Optional[int] = None,
        use_cache: bool = True,
    ) -> Dict[str, object]:
        """Waypoints by Euler flow steps; world prefix and scene vector computed once per sample.

        Returns:
            dict: ``waypoints`` (B, H, 2) metres, ego frame; ``expert_weights`` (B, n_moe, E) of scene routing
            (absent for token routing); ``timings_ms`` (``prefix``, ``flow``).
        """
        t0 = time.perf_counter()
        world = self.encode_scene(inputs, data_samples)
        state = self.state_features(inputs)
        bsz = state.shape[0]
        if noise is None:
            noise = torch.randn(bsz, self.head.horizon, self.head.action_dim, device=state.device)
        if use_cache:
            cache = self.world_prefix(world)
            t1 = time.perf_counter()
            actions = self.head.sample(lambda x, t: self.velocity_cached(cache, state, x, t), noise, num_steps)
        else:
            t1 = time.perf_counter()
            actions = self.head.sample(lambda x, t: self.velocity_joint(world, state, x, t), noise, num_steps)
        t2 = time.perf_counter()
        out = dict(
            waypoints=self.head.from_actions(actions) + self.prior_points(inputs),
            timings_ms=dict(prefix=(t1 - t0) * 1e3, flow=(t2 - t1) * 1e3),
        )
        weights = self.expert_weights()
        if weights is not None:
            out['expert_weights'] = weights
        return out

    # ------------------------------------------------------------------ closed loop (mmautomot.apis.Driver)
    @torch.no_grad()
    def ue_tick(self, inputs: dict, cache=None, data_samples: Optional[list] = None, tick: Optional[int] = None):
        """BEV, scene vector and world-language prefix into a new prefix cache (``Driver``'s slow step); the
        cache carries its scene vector (``cache.scene``) so the planning ticks route by the same scene."""
        world = self.encode_scene(inputs, data_samples)
        cache = self.world_prefix(world)
        cache.created_tick = tick
        cache.scene = world['scene']
        return cache

    @torch.no_grad()
    def ae_tick(self, inputs: dict, cache, noise: Optional[Tensor] = None) -> Dict[str, object]:
        """The flow steps of the Planning expert over the read-only cache (``Driver``'s fast step).

        Returns:
            dict: ``waypoints`` (B, H, 2) metres, ego frame; ``path`` (the waypoints: SAMoE has no path head);
            ``meta_actions`` (B, 0, 2) (none); ``info`` (``flow_steps``).
        """
        self.scene_context.set(cache.scene)
        state = self.state_features(inputs)
        if noise is None:
            noise = torch.randn(state.shape[0], self.head.horizon, self.head.action_dim, device=state.device)
        actions = self.head.sample(lambda x, t: self.velocity_cached(cache, state, x, t), noise)
        waypoints = self.head.from_actions(actions) + self.prior_points(inputs)
        return dict(
            waypoints=waypoints,
            path=waypoints,
            meta_actions=waypoints.new_zeros(waypoints.shape[0], 0, 2, dtype=torch.long),
            info=dict(flow_steps=self.head.num_steps),
        )

    def moe_ffns(self) -> List[SceneMoEFFN]:
        return [m for m in self.plan_layers.modules() if isinstance(m, SceneMoEFFN)]

    def expert_weights(self) -> Optional[Tensor]:
        """(B, n_moe, E) scene-routing weights of the last forward (None without scene-routed MoE layers)."""
        ws = [m.last_weights for m in self.moe_ffns() if m.routing == 'scene' and m.last_weights is not None]
        return torch.stack(ws, dim=1) if ws else None

    # ------------------------------------------------------------------ BaseModel
    def forward(self, inputs: dict, data_samples: Optional[list] = None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.sample_actions(inputs, data_samples)['waypoints']
        raise RuntimeError(f'SAMoEVLA: invalid mode {mode!r} (loss | predict | tensor)')

    def flow_targets(self, inputs: dict, data_samples: list):
        """x1 (B, H, A) normalised residual actions over the prior and their step mask (B, H)."""
        if not all('gt_ego_fut_trajs' in ds for ds in data_samples):
            raise KeyError('SAMoEVLA.loss: every data sample needs gt_ego_fut_trajs')
        dev = inputs['ego_status'].device
        gt = torch.stack([torch.as_tensor(ds.gt_ego_fut_trajs) for ds in data_samples]).to(dev).float()
        if gt.shape[1] != self.head.horizon:
            raise ValueError(
                f'SAMoEVLA: GT has {gt.shape[1]} future steps but action_head.horizon = '
                f'{self.head.horizon}; set the horizon to the dataset planning.fut_steps'
            )
        if all('gt_ego_fut_masks' in ds for ds in data_samples):
            mask = torch.stack([torch.as_tensor(ds.gt_ego_fut_masks) for ds in data_samples]).to(dev).float()
        else:
            mask = torch.ones(gt.shape[:2], device=dev)
        prior = self.prior_points(inputs)
        gt = torch.where(mask[..., None] > 0, torch.nan_to_num(gt), prior)
        return self.head.to_actions(gt - prior), mask

    def loss(self, inputs: dict, data_samples: list) -> Dict[str, Tensor]:
        """``loss_flow`` of one joint pass at a random flow time."""
        x1, mask = self.flow_targets(inputs, data_samples)
        world = self.encode_scene(inputs, data_samples)
        state = self.state_features(inputs)
        x0 = torch.randn_like(x1)
        t = self.head.sample_time(x1.shape[0], device=x1.device)
        v = self.velocity_joint(world, state, self.head.psi_t(x0, x1, t), t)
        return self.head.loss(v, x0, x1, mask)

    def predict(self, inputs: dict, data_samples: list) -> list:
        out = self.sample_actions(inputs, data_samples)
        for i, ds in enumerate(data_samples):
            ds.pred_ego_fut_trajs = out['waypoints'][i].detach().float().cpu()
            if 'expert_weights' in out:
                ds.expert_weights = out['expert_weights'][i].detach().float().cpu()
        return data_samples

    def count_params(self) -> Dict[str, int]:
        """Parameters of the World-Language expert (the VLM), the Planning expert, the scene/BEV encoders,
        the head and in total."""

        def n(m):
            return sum(p.numel() for p in m.parameters())

        out = dict(
            world_language_params=n(self.vlm) + n(self.world),
            planning_params=n(self.plan_layers) + n(self.plan_norm),
            scene_encoder_params=n(self.scene_encoder),
            bev_encoder_params=n(self.bev_encoder),
            head_params=n(self.head),
        )
        out['total_params'] = n(self)
        return out
