# Copyright (c) mmautomot contributors. All rights reserved.
"""Drive-pi0: a VLM prefix and a flow-matching action expert joined layer by layer (pi0 for driving)."""

import time
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor

from mmautomot.models.mot import PrefixKVCache
from mmautomot.models.vlm import driving_prompt
from mmautomot.registry import MODELS

#: proprio token features: (x, y) / 10 of a history position, or for the current-state token
#: (speed / 10, lon acc / 5, lat acc / 5, yaw rate, target point / 32, command one-hot)
_STATE_DIMS = 2 + 4 + 2


@MODELS.register_module()
class DrivePi0(BaseModel):
    """Drive-pi0 (DriveMoE's baseline): a pi0-style VLA for end-to-end driving.

    Paper: Yang et al., "DriveMoE: Mixture-of-Experts for Vision-Language-Action Model in End-to-End
    Autonomous Driving" (Drive-pi0) after pi0. The VLM (the understanding expert of
    :class:`mmautomot.models.mot.MoTTransformer`, any family with ``encode_images`` / ``embed``) reads the
    front-camera history (previous and current front frame, oldest first), optional fixed extra views and
    a driving prompt; the action expert (AE) reads proprio tokens and H noisy action tokens and shares the
    joint attention at every layer. Mask groups: ``[proprio | actions]`` (proprio never sees the actions).

    * training (``loss``): one joint pass at a flow time ``t`` -> ``loss_flow`` (:class:`FlowMatchingActionHead`);
    * inference (``predict`` / :meth:`sample_actions`): the VLM prefix is computed ONCE into a
      :class:`PrefixKVCache`; each of the N Euler steps runs only the AE, reading the cache (read-only).

    Actions are the future ego waypoints (B, H, 2) in the ego frame (x forward, y left, metres), regressed as
    a residual over a constant-velocity prior (``prior``) and divided by ``action_head.action_scale``.

    Tensor contract (inputs from ``DrivingDataPreprocessor`` with ``mean=0, std=1`` so ``imgs`` keep 0-255):
    ``img_hist`` (B, N_h, 3, H, W), ``imgs`` (B, V, 3, H, W) (only with ``extra_views``), ``ego_status``
    (B, 4), ``ego_hist_trajs`` (B, N_p - 1, 2) (optional: zeros when absent, e.g. in closed loop without
    pose history), ``target_point`` (B, 2), ``command`` (B,); optional ``vlm_inputs`` (list of B per-sample
    dicts from the pipeline's ``ProcessVLAPrefixInputs``: prefix tokens and processed images, then ``img_hist`` /
    ``imgs`` are not re-processed).
    ``predict`` fills ``pred_ego_fut_trajs`` (H, 2).

    Args:
        mot (dict): :class:`MoTTransformer` kwargs (``ue`` the VLM, ``ae`` the action expert width / FFN).
        action_head (dict): :class:`FlowMatchingActionHead` config; ``hidden_size`` and ``proprio_dim`` are
            filled in.
        extra_views (Sequence[int]): indices into ``inputs['imgs']`` always encoded after the front history
            (the 6-fixed-view baseline sets all five). Defaults to () (front history only).
        num_hist_states (int): past ego positions in the proprio tokens (``ego_hist_trajs``). Defaults to 4.
        num_commands (int): navigation command vocabulary (one-hot in the state token). Defaults to 6.
        prior (str | None): 'constant_velocity' (actions are residuals over ``speed * dt * (i + 1)`` straight
            ahead, ``dt = prior_step``) or None. Defaults to 'constant_velocity'.
        prior_step (float): seconds between waypoints. Defaults to 0.5.
        data_preprocessor (dict | None): ``DrivingDataPreprocessor`` config.
        init_cfg (dict | None): mmengine init config.
    """

    def __init__(
        self,
        mot: dict,
        action_head: dict,
        extra_views: Sequence[int] = (),
        num_hist_states: int = 4,
        num_commands: int = 6,
        prior: Optional[str] = 'constant_velocity',
        prior_step: float = 0.5,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if prior not in (None, 'constant_velocity'):
            raise ValueError(f"DrivePi0: prior must be None or 'constant_velocity', got {prior!r}")
        mot = dict(mot)
        mot.setdefault('type', 'MoTTransformer')
        self.mot = MODELS.build(mot)
        self.num_hist_states, self.num_commands = num_hist_states, num_commands
        self.proprio_dim = _STATE_DIMS + num_commands
        self.head = MODELS.build(dict(action_head, hidden_size=self.mot.ae_hidden_size, proprio_dim=self.proprio_dim))
        self.extra_views = tuple(int(v) for v in extra_views)
        self.prior, self.prior_step = prior, float(prior_step)

    # ------------------------------------------------------------------ inputs
    @property
    def vlm(self):
        return self.mot.ue

    @property
    def group_sizes(self):
        """AE mask groups: (proprio tokens, action tokens)."""
        return (self.num_hist_states + 1, self.head.horizon)

    def _check(self, inputs: dict, keys: Sequence[str]) -> None:
        missing = [k for k in keys if k not in inputs]
        if missing:
            raise KeyError(f'{type(self).__name__}: inputs lack {missing}; got keys {sorted(inputs)}')

    def proprio(self, inputs: dict) -> Tensor:
        """(B, N_h + 1, P) proprio features: one token per past position, then the current state."""
        self._check(inputs, ('ego_status', 'command'))
        bsz = inputs['ego_status'].shape[0]
        hist = inputs.get('ego_hist_trajs')  # absent in closed loop unless the caller tracks past poses
        hist = inputs['ego_status'].new_zeros(bsz, self.num_hist_states, 2) if hist is None else hist.float()
        if hist.shape[1:] != (self.num_hist_states, 2):
            raise ValueError(
                f'{type(self).__name__}: ego_hist_trajs must be (B, {self.num_hist_states}, 2), got {tuple(hist.shape)}'
            )
        feats = hist.new_zeros(bsz, self.num_hist_states + 1, self.proprio_dim)
        feats[:, :-1, :2] = torch.nan_to_num(hist) / 10.0
        status = inputs['ego_status'].float().reshape(bsz, 4) / hist.new_tensor([10.0, 5.0, 5.0, 1.0])
        feats[:, -1, 2:6] = status
        tp = inputs.get('target_point')
        if tp is not None:
            feats[:, -1, 6:8] = tp.float().reshape(bsz, 2) / 32.0
        feats[:, -1, _STATE_DIMS:] = F.one_hot(
            inputs['command'].long().reshape(bsz).clamp(0, self.num_commands - 1), self.num_commands
        ).float()
        return feats

    def prior_points(self, inputs: dict) -> Tensor:
        """(B, H, 2) constant-velocity prior (zeros without a prior)."""
        speed = inputs['ego_status'][:, 0].float()
        steps = torch.arange(1, self.head.horizon + 1, device=speed.device, dtype=torch.float32) * self.prior_step
        out = speed.new_zeros(speed.shape[0], self.head.horizon, 2)
        if self.prior == 'constant_velocity':
            out[..., 0] = speed[:, None] * steps[None]
        return out

    def prompts(self, inputs: dict, data_samples: Optional[list] = None) -> List[str]:
        bsz = inputs['img_hist'].shape[0]
        if data_samples is not None and all('prompt' in ds for ds in data_samples):
            return [ds.prompt for ds in data_samples]
        return [
            driving_prompt(int(c), float(s)) for c, s in zip(inputs['command'].reshape(bsz), inputs['ego_status'][:, 0])
        ]

    # ------------------------------------------------------------------ VLM prefix
    @property
    def num_routed_views(self) -> int:
        """Prefix images besides the front history and ``extra_views`` (DriveMoE: 1 routed view)."""
        return 0

    def vision_features(
        self, inputs: dict, data_samples: Optional[list] = None, pixels: Optional[dict] = None
    ) -> Dict[str, object]:
        """Encode the prefix images: front history, then ``extra_views``, in ONE vision-encoder call.

        Args:
            pixels (dict | None): the pipeline's processed images (:meth:`pipeline_pixels`): ``prefix`` (the
                expert's ``encode_pixels`` kwargs of the B x n prefix images, sample-major), ``views``
                (routed candidates or None), ``batch_size`` and ``num_images``; None processes
                ``inputs['img_hist']`` (and ``imgs``) here.

        Returns:
            dict: ``embeds`` (B, n_img, n_tok, C), ``deepstack`` list of (B, n_img, n_tok, C).
        """
        if pixels is not None:
            return self._encode(pixels=pixels['prefix'], shape=(pixels['batch_size'], pixels['num_images']))
        self._check(inputs, ('img_hist',))
        frames = inputs['img_hist']
        if self.extra_views:
            self._check(inputs, ('imgs',))
            frames = torch.cat([frames.to(inputs['imgs'].dtype), inputs['imgs'][:, list(self.extra_views)]], 1)
        return self._encode(frames)

    def _encode(
        self, frames: Optional[Tensor] = None, pixels: Optional[dict] = None, shape: Optional[tuple] = None
    ) -> Dict[str, object]:
        """(B, n, 3, H, W) frames, or ``pixels`` (processed, sample-major) of ``shape`` = (B, n) images ->
        features reshaped to (B, n, n_tok, C)."""
        if pixels is None:
            bsz, n = frames.shape[:2]
            f = self.vlm.encode_images(frames.flatten(0, 1))
        else:
            bsz, n = shape
            f = self.vlm.encode_pixels(**pixels)
        return dict(
            embeds=f['embeds'].unflatten(0, (bsz, n)), deepstack=[d.unflatten(0, (bsz, n)) for d in f['deepstack']]
        )

    @staticmethod
    def pick_pixels(pixels: dict, bsz: int, n: int, index) -> dict:
        """Images of processed ``pixels`` (sample-major, ``n`` per sample; every tensor's dim 0 is
        B x n x (rows per image)): ``index`` a slice / list (the same images of every sample) or a (B,) tensor
        (one image per sample)."""
        out = {}
        for key, value in pixels.items():
            value = value.unflatten(0, (bsz, n, -1))
            if isinstance(index, Tensor):
                value = value[torch.arange(bsz, device=value.device), index.to(value.device)][:, None]
            else:
                value = value[:, index]
            out[key] = value.flatten(0, 2)
        return out

    def pipeline_pixels(self, batch: dict, inputs: dict) -> dict:
        """Split the collated pipeline batch (``ProcessVLAPrefixInputs``) into the VLM batch (``batch``, the
        ``view_*`` keys removed) and the processed images of :meth:`vision_features`."""
        views = {k[len('view_') :]: batch.pop(k) for k in list(batch) if k.startswith('view_')}
        prefix = {k: batch[k] for k in ('pixel_values', 'image_grid_thw') if k in batch}
        bsz = batch['input_ids'].shape[0]
        n_hist = inputs['img_hist'].shape[1] if 'img_hist' in inputs else None
        expected = None if n_hist is None else n_hist + len(self.extra_views) + self.num_routed_views
        count = prefix.get('image_grid_thw', prefix['pixel_values']).shape[0]
        n_views = views.get('image_grid_thw', views.get('pixel_values', torch.empty(0))).shape[0]
        if (expected is not None and count != bsz * expected) or n_views != bsz * len(
            getattr(self, 'candidate_views', ())
        ):
            raise ValueError(
                f'{type(self).__name__}: the pipeline processed {count // bsz} prefix images and {n_views // bsz} '
                f'routed views per sample; the model expects {expected} and '
                f'{len(getattr(self, "candidate_views", ()))} (ProcessVLAPrefixInputs extra_views / routed_views '
                "must be the model's extra_views / candidate_views)"
            )
        return dict(prefix=prefix, views=views or None, batch_size=bsz, num_images=count // bsz)

    def ue_batch(self, inputs: dict, data_samples: Optional[list] = None) -> Dict[str, object]:
        """The VLM batch (tokens with one image block per prefix image) carrying precomputed image features;
        also ``extras`` (e.g. router outputs) produced while encoding.

        With the pipeline's inputs (``inputs['vlm_inputs']``, ``ProcessVLAPrefixInputs``) the tokens and the
        processed images are only batched and the images encoded; otherwise (direct calls, old configs) the
        prompt is tokenised and the frames processed here (same values)."""
        if 'vlm_inputs' in inputs:
            batch = self.vlm.collate_inputs(inputs['vlm_inputs'])
            feats = self.vision_features(inputs, data_samples, pixels=self.pipeline_pixels(batch, inputs))
        else:
            feats = self.vision_features(inputs, data_samples)
            n_img = feats['embeds'].shape[1]
            hist = inputs['img_hist']
            # token layout only: the processor sees copies of the front frame, the features are ours
            placeholders = hist[:, -1:].expand(-1, n_img, -1, -1, -1)
            batch = self.vlm.prepare_inputs(placeholders, self.prompts(inputs, data_samples))
        extras = feats.pop('extras', {})
        batch['image_features'] = dict(
            embeds=feats['embeds'].flatten(0, 1), deepstack=[d.flatten(0, 1) for d in feats['deepstack']]
        )
        batch['extras'] = extras
        return batch

    # ------------------------------------------------------------------ action expert
    def ae_tokens(self, proprio: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        tokens = torch.cat([self.head.embed_proprio(proprio), self.head.embed_actions(x_t, t)], dim=1)
        return tokens.to(self.mot.ae_norm.weight.dtype)

    def velocity_joint(self, batch: dict, proprio: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """Velocity (B, H, A) from one joint (VLM + AE) pass."""
        _, ae_out = self.mot.forward_joint(batch, self.ae_tokens(proprio, x_t, t), self.group_sizes)
        return self.head.velocity(ae_out[:, -self.head.horizon :]).float()

    def velocity_cached(self, cache: PrefixKVCache, proprio: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """Velocity (B, H, A) from the AE alone over a filled prefix cache (never modified)."""
        ae_out = self.mot.ae_step(self.ae_tokens(proprio, x_t, t), cache, self.group_sizes)
        return self.head.velocity(ae_out[:, -self.head.horizon :]).float()

    @torch.no_grad()
    def sample_actions(
        self,
        inputs: dict,
        data_samples: Optional[list] = None,
        noise: Optional[Tensor] = None,
        num_steps: Optional[int] = None,
        recompute_prefix: bool = False,
        generator: Optional[torch.Generator] = None,
    ) -> Dict[str, object]:
        """Sample waypoints: VLM prefix once (cache), then N Euler steps of the AE over the read-only cache.

        Args:
            noise (Tensor | None): x0 (B, H, A); None draws it (from ``generator`` if given).
            num_steps (int | None): Euler steps (default ``action_head.num_steps``).
            recompute_prefix (bool): run the joint VLM + AE pass at every step instead (reference / benchmark).

        Returns:
            dict: ``waypoints`` (B, H, 2) ego frame, metres; ``actions`` (B, H, A) normalised; ``extras``
            (e.g. ``camera_index``); ``timings_ms`` (``prefix`` = vision + VLM, ``flow``); ``flow_steps``.
        """
        t0 = time.perf_counter()
        batch = self.ue_batch(inputs, data_samples)
        proprio = self.proprio(inputs)
        bsz = proprio.shape[0]
        if noise is None:
            noise = torch.randn(bsz, self.head.horizon, self.head.action_dim, generator=generator).to(proprio.device)
        if recompute_prefix:
            t1 = time.perf_counter()
            actions = self.head.sample(lambda x, t: self.velocity_joint(batch, proprio, x, t), noise, num_steps)
        else:
            cache = self.mot.ue_refresh(batch)
            t1 = time.perf_counter()
            actions = self.head.sample(lambda x, t: self.velocity_cached(cache, proprio, x, t), noise, num_steps)
        t2 = time.perf_counter()
        waypoints = self.head.from_actions(actions) + self.prior_points(inputs)
        return dict(
            waypoints=waypoints,
            actions=actions,
            extras=batch['extras'],
            timings_ms=dict(prefix=(t1 - t0) * 1e3, flow=(t2 - t1) * 1e3),
            flow_steps=num_steps or self.head.num_steps,
        )

    # ------------------------------------------------------------------ closed loop (mmautomot.apis.Driver)
    @torch.no_grad()
    def ue_tick(
        self,
        inputs: dict,
        cache: Optional[PrefixKVCache] = None,
        data_samples: Optional[list] = None,
        tick: Optional[int] = None,
    ) -> PrefixKVCache:
        """Vision (+ router) and the VLM prefix into a :class:`PrefixKVCache` (``Driver``'s UE step). The
        prefix's extras (e.g. the routed view) are kept for the next :meth:`ae_tick`."""
        batch = self.ue_batch(inputs, data_samples)
        self._tick_extras = batch['extras']
        return self.mot.ue_refresh(batch, cache=cache, tick=tick)

    @torch.no_grad()
    def ae_tick(self, inputs: dict, cache: PrefixKVCache, noise: Optional[Tensor] = None) -> Dict[str, object]:
        """The N flow steps of the action expert over the read-only cache (``Driver``'s AE step).

        Returns:
            dict: ``waypoints`` (B, H, 2) ego frame; ``path`` (the same points: the controller's lateral
            reference); ``meta_actions`` (B, 0, 2) (none); ``info`` (batch-1 floats for the latency log:
            ``flow_steps`` and, for DriveMoE, ``routed_view``).
        """
        proprio = self.proprio(inputs)
        if noise is None:
            noise = torch.randn(proprio.shape[0], self.head.horizon, self.head.action_dim, device=proprio.device)
        actions = self.head.sample(lambda x, t: self.velocity_cached(cache, proprio, x, t), noise)
        waypoints = self.head.from_actions(actions) + self.prior_points(inputs)
        info = dict(flow_steps=float(self.head.num_steps))
        extras = getattr(self, '_tick_extras', None) or {}
        if 'camera_index' in extras:
            info['routed_view'] = float(extras['camera_index'][0])
        return dict(
            waypoints=waypoints,
            path=waypoints,
            meta_actions=waypoints.new_zeros(waypoints.shape[0], 0, 2, dtype=torch.long),
            info=info,
        )

    # ------------------------------------------------------------------ BaseModel
    def forward(self, inputs: dict, data_samples: Optional[list] = None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.sample_actions(inputs, data_samples)['waypoints']
        raise RuntimeError(f'{type(self).__name__}: invalid mode {mode!r} (loss | predict | tensor)')

    @staticmethod
    def _stack(data_samples: list, key: str, device) -> Optional[Tensor]:
        have = [key in ds for ds in data_samples]
        if not any(have):
            return None
        if not all(have):
            raise KeyError(f'DrivePi0.loss: {key!r} is set in some data samples of the batch but not all')
        return torch.stack([torch.as_tensor(getattr(ds, key)) for ds in data_samples]).to(device)

    def flow_targets(self, inputs: dict, data_samples: list):
        """x1 (B, H, A) normalised residual actions and their step mask (B, H) from the GT future."""
        dev = inputs['ego_status'].device
        gt = self._stack(data_samples, 'gt_ego_fut_trajs', dev)
        if gt is None:
            raise KeyError(f'{type(self).__name__}.loss: data samples carry no gt_ego_fut_trajs')
        mask = self._stack(data_samples, 'gt_ego_fut_masks', dev)
        mask = torch.ones(gt.shape[:2], device=dev) if mask is None else mask.float()
        if gt.shape[1] != self.head.horizon:
            raise ValueError(
                f'{type(self).__name__}: GT has {gt.shape[1]} future steps but action_head.horizon = '
                f'{self.head.horizon}; set the horizon to the dataset planning.fut_steps'
            )
        prior = self.prior_points(inputs)
        gt = torch.where(mask[..., None] > 0, torch.nan_to_num(gt.float()), prior)
        return self.head.to_actions(gt - prior), mask

    def loss(self, inputs: dict, data_samples: list) -> Dict[str, Tensor]:
        """``loss_flow`` (+ whatever :meth:`extra_losses` adds)."""
        x1, mask = self.flow_targets(inputs, data_samples)
        batch = self.ue_batch(inputs, data_samples)
        proprio = self.proprio(inputs)
        x0 = torch.randn_like(x1)
        t = self.head.sample_time(x1.shape[0], device=x1.device)
        v = self.velocity_joint(batch, proprio, self.head.psi_t(x0, x1, t), t)
        losses = self.head.loss(v, x0, x1, mask)
        losses.update(self.extra_losses(batch['extras'], data_samples))
        return losses

    def extra_losses(self, extras: dict, data_samples: list) -> Dict[str, Tensor]:
        """Hook for subclasses (router supervision); none in Drive-pi0."""
        return {}

    def predict(self, inputs: dict, data_samples: list) -> list:
        """Fill ``pred_ego_fut_trajs`` (H, 2) (and subclass extras) into the data samples."""
        out = self.sample_actions(inputs, data_samples)
        for i, ds in enumerate(data_samples):
            ds.pred_ego_fut_trajs = out['waypoints'][i].detach().float().cpu()
            self.fill_extras(ds, out['extras'], i)
        return data_samples

    def fill_extras(self, data_sample, extras: dict, i: int) -> None:
        """Hook for subclasses (e.g. the routed view)."""

    def count_params(self) -> Dict[str, int]:
        """``vlm_params`` (VLM incl. vision), ``ae_params`` (AE layers + final norm), ``head_params``,
        ``other_params`` and ``total_params``."""
        counts = self.mot.count_params()
        out = dict(
            vlm_params=counts['ue_params'],
            ae_params=counts['ae_params'],
            head_params=sum(p.numel() for p in self.head.parameters()),
        )
        total = sum(p.numel() for p in self.parameters())
        out['other_params'] = total - sum(out.values())
        out['total_params'] = total
        return out
