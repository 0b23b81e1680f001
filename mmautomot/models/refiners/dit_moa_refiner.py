# Copyright (c) mmautomot contributors. All rights reserved.
"""DiT-based diffusion action refiner built of Mixture-of-Attention blocks (AutoMoT+)."""

from typing import Dict, Mapping, Optional, Sequence, Union

import torch
import torch.nn as nn
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from mmengine.model import BaseModule
from torch import Tensor

from mmautomot.registry import MODELS

from .moa_block import MoABlock, modulate
from .truncated_diffusion import TruncatedDiffusion

LOSSES = ('l1', 'mse')


@MODELS.register_module()
class DiTMoARefiner(BaseModule):
    """Diffusion refiner of a proposed ego trajectory (AutoMoT+ action refiner).

    Paper: AutoMoT+ refines the action expert's waypoints with "a DiT-based diffusion policy built of
    Mixture-of-Attention blocks"; the authors' refiner is not released, so the design below is ours:

    * Denoiser: a small DiT over ``T`` trajectory tokens. Token ``i`` embeds the noisy waypoint ``x_t[i]``
      and the proposal waypoint ``proposal[i]`` (both ego frame, divided by ``traj_scale``) plus a learned
      position embedding. The diffusion timestep (diffusers ``Timesteps`` + ``TimestepEmbedding``) conditions
      every block through adaLN-Zero. Each :class:`MoABlock` = self-attention over the trajectory tokens,
      one cross-attention per condition source mixed by a learned per-token softmax gate, then an MLP.
    * Condition sources: a dict of token sets, e.g. the action expert's output tokens ``decision``,
      ``route``, ``waypoint`` (and optionally ``bev``), each projected by its own linear layer + LayerNorm
      to the refiner width.
    * Diffusion: :class:`TruncatedDiffusion` (diffusers ``DDIMScheduler``, or
      ``FlowMatchEulerDiscreteScheduler``): start from the proposal noised at ``truncation_timestep`` and
      denoise in ``num_inference_steps`` deterministic steps (default 2, as DiffusionDrive).
    * With ``prediction_type='sample'`` the network predicts a residual: x0_hat = proposal + net(...). With
      the zero-initialised output layer and adaLN-Zero an untrained refiner returns the proposal exactly.
    * Determinism: :meth:`refine` draws its start noise from ``generator``, or from a fresh generator seeded
      with ``seed``, so two calls with the same inputs give the same trajectory. :meth:`loss` draws its
      timesteps and noise from ``generator``, or from a generator seeded with ``(seed, train_step, rank)``,
      where ``train_step`` is a persistent buffer counting the loss calls: it is saved in checkpoints, so
      a resumed run draws exactly the noise the uninterrupted run would have (the global random state,
      which MMEngine re-seeds on resume, is not used), and every rank draws different noise.

    Args:
        cond_sources (Sequence[str] | Mapping[str, int]): condition source names (all with ``cond_channels``
            channels), or name -> channels.
        cond_channels (int | None): channels of the sources given by name only.
        num_waypoints (int): T, trajectory length. Defaults to 6.
        hidden_size (int): DiT width D. Defaults to 128.
        num_layers (int): MoA blocks. Defaults to 2.
        num_heads (int): attention heads. Defaults to 4.
        mlp_ratio (float): Defaults to 4.
        traj_scale (float): metres per normalised unit. Defaults to 10.
        diffusion (dict | None): :class:`TruncatedDiffusion` kwargs (``scheduler`` 'ddim' | 'flow',
            ``num_train_timesteps`` 1000, ``truncation_timestep`` 50, ``num_inference_steps`` 2,
            ``prediction_type`` 'sample' | 'epsilon' (DDIM) | 'velocity' (flow), ``beta_schedule``,
            ``noise_source`` 'proposal' | 'gt').
        loss_type (str): ``'l1'`` or ``'mse'`` on the (normalised) regression target. Defaults to 'l1'.
        loss_weight (float): Defaults to 1.
        seed (int): seed of the inference noise and (with the step counter and the rank) of the training
            noise when no generator is given. Defaults to 0.
        init_cfg (dict | None): mmengine init config.

    Tensor contract (ego frame: x forward, y left, metres):
        ``cond_tokens`` dict name -> (B, L_s, C_s); ``proposal`` / ``gt`` (B, T, 2); ``mask`` (B, T) or
        (B, T, 2), 1 = valid. :meth:`loss` -> ``dict(loss_refine=scalar)``; :meth:`refine` -> (B, T, 2).
    """

    def __init__(
        self,
        cond_sources: Union[Sequence[str], Mapping[str, int]] = ('decision', 'route', 'waypoint'),
        cond_channels: Optional[int] = None,
        num_waypoints: int = 6,
        hidden_size: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        traj_scale: float = 10.0,
        diffusion: Optional[dict] = None,
        loss_type: str = 'l1',
        loss_weight: float = 1.0,
        seed: int = 0,
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(init_cfg=init_cfg)
        if isinstance(cond_sources, Mapping):
            sources = {str(k): int(v) for k, v in cond_sources.items()}
        else:
            if cond_channels is None:
                raise ValueError('DiTMoARefiner: cond_channels is required when cond_sources is a list of names')
            sources = {str(k): int(cond_channels) for k in cond_sources}
        if not sources:
            raise ValueError('DiTMoARefiner: cond_sources is empty')
        if loss_type not in LOSSES:
            raise ValueError(f'DiTMoARefiner: loss_type must be one of {LOSSES}, got {loss_type!r}')
        self.cond_sources = sources
        self.num_waypoints = num_waypoints
        self.traj_scale = float(traj_scale)
        self.loss_type = loss_type
        self.loss_weight = loss_weight
        self.seed = seed
        self.diffusion = TruncatedDiffusion(**(diffusion or {}))
        d = hidden_size
        self.in_proj = nn.Linear(4, d)  # (x_t, proposal) per waypoint
        self.pos_embed = nn.Parameter(torch.randn(num_waypoints, d) * 0.02)
        self.time_proj = Timesteps(d, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(d, d)
        self.cond_proj = nn.ModuleDict(
            {name: nn.Sequential(nn.Linear(ch, d), nn.LayerNorm(d)) for name, ch in sources.items()}
        )
        self.source_embed = nn.ParameterDict({name: nn.Parameter(torch.randn(d) * 0.02) for name in sources})
        self.blocks = nn.ModuleList(
            [MoABlock(d, num_heads, list(sources), mlp_ratio=mlp_ratio) for _ in range(num_layers)]
        )
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_adaln = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.out_proj = nn.Linear(d, 2)
        self._zero_init_output()
        # loss() calls so far: seeds the training noise, saved with the weights (resume-exact)
        self.register_buffer('train_step', torch.zeros((), dtype=torch.int64))

    def _zero_init_output(self) -> None:
        for lin in (self.final_adaln[1], self.out_proj):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def init_weights(self) -> None:
        """mmengine init, then re-apply the adaLN-Zero / zero output initialisation."""
        super().init_weights()
        self._zero_init_output()

    # ------------------------------------------------------------------ checks
    def _check(self, proposal: Tensor, cond_tokens: Mapping[str, Tensor], name: str) -> None:
        if proposal.dim() != 3 or proposal.shape[1:] != (self.num_waypoints, 2):
            raise ValueError(
                f'DiTMoARefiner.{name}: proposal must be (B, {self.num_waypoints}, 2), got {tuple(proposal.shape)}'
            )
        missing = [k for k in self.cond_sources if k not in cond_tokens]
        if missing:
            raise KeyError(
                f'DiTMoARefiner.{name}: cond_tokens lack sources {missing} '
                f'(got {sorted(cond_tokens)}, configured {list(self.cond_sources)})'
            )
        for k, ch in self.cond_sources.items():
            tok = cond_tokens[k]
            if tok.dim() != 3 or tok.shape[0] != proposal.shape[0] or tok.shape[-1] != ch:
                raise ValueError(
                    f'DiTMoARefiner.{name}: cond_tokens[{k!r}] must be (B={proposal.shape[0]}, L, {ch}),'
                    f' got {tuple(tok.shape)}'
                )

    # ------------------------------------------------------------------ network
    def encode_cond(self, cond_tokens: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """Project each source to (B, L_s, D) (done once per refinement, reused by every step)."""
        dtype = self.pos_embed.dtype
        return {k: self.cond_proj[k](cond_tokens[k].to(dtype)) + self.source_embed[k] for k in self.cond_sources}

    def denoise(self, x_t: Tensor, timesteps: Tensor, proposal: Tensor, cond: Dict[str, Tensor]) -> Tensor:
        """One denoiser evaluation in normalised units.

        Args:
            x_t (Tensor): (B, T, 2) noisy trajectory / ``traj_scale``.
            timesteps (Tensor): (B,) diffusion timesteps in [0, num_train_timesteps].
            proposal (Tensor): (B, T, 2) proposal / ``traj_scale``.
            cond (dict[str, Tensor]): :meth:`encode_cond` output.

        Returns:
            Tensor: (B, T, 2) model output (x0 for 'sample', noise for 'epsilon', velocity for 'velocity').
        """
        dtype = self.pos_embed.dtype
        h = self.in_proj(torch.cat([x_t, proposal], dim=-1).to(dtype)) + self.pos_embed
        c = self.time_embed(self.time_proj(timesteps.reshape(-1)).to(dtype))
        for block in self.blocks:
            h = block(h, c, cond)
        shift, scale = self.final_adaln(c).chunk(2, dim=-1)
        out = self.out_proj(modulate(self.final_norm(h), shift, scale))
        if self.diffusion.prediction_type == 'sample':
            out = out + proposal.to(out.dtype)  # residual over the proposal
        return out

    # ------------------------------------------------------------------ API
    def loss(
        self,
        cond_tokens: Mapping[str, Tensor],
        proposal: Tensor,
        gt: Tensor,
        mask: Optional[Tensor] = None,
        generator: Optional[torch.Generator] = None,
    ) -> Dict[str, Tensor]:
        """Masked diffusion regression loss.

        Args:
            cond_tokens (dict[str, Tensor]): name -> (B, L_s, C_s).
            proposal (Tensor): (B, T, 2) proposal, ego frame metres (detach it to keep the proposer out of
                this loss's gradient).
            gt (Tensor): (B, T, 2) ground-truth trajectory, ego frame metres.
            mask (Tensor | None): (B, T) or (B, T, 2) validity; invalid GT points are replaced by the proposal
                before noising and excluded from the mean.
            generator (torch.Generator | None): for the timesteps and noise; None = a CPU generator seeded
                with ``(seed, train_step, rank)`` (see the class docstring), after which ``train_step``
                is incremented.

        Returns:
            dict: ``loss_refine`` (weighted mean over valid coordinates).
        """
        self._check(proposal, cond_tokens, 'loss')
        if gt.shape != proposal.shape:
            raise ValueError(f'DiTMoARefiner.loss: gt {tuple(gt.shape)} and proposal {tuple(proposal.shape)} differ')
        dtype = self.pos_embed.dtype
        if mask is None:
            mask = torch.ones_like(gt)
        mask = mask.to(gt.device, dtype)
        mask = mask[..., None].expand_as(gt) if mask.dim() == 2 else mask
        prop_n = proposal.to(dtype) / self.traj_scale
        gt_n = torch.where(mask > 0, gt.to(dtype) / self.traj_scale, prop_n.detach())
        if generator is None:
            generator = self._training_generator()
        x_t, t, target = self.diffusion.training_sample(prop_n, gt_n, generator)
        pred = self.denoise(x_t, t, prop_n, self.encode_cond(cond_tokens))
        diff = pred - target
        err = diff.abs() if self.loss_type == 'l1' else diff.pow(2)
        loss = (err * mask).sum() / mask.sum().clamp(min=1.0)
        return dict(loss_refine=loss * self.loss_weight)

    def _training_generator(self) -> torch.Generator:
        """A CPU generator for this loss call, seeded from ``(seed, train_step, rank)``; bumps the step."""
        from mmengine.dist import get_rank

        step = int(self.train_step)
        self.train_step += 1
        mixed = ((int(self.seed) * 1_000_003 + step) * 1_009 + get_rank()) % (2**63 - 1)
        return torch.Generator(device='cpu').manual_seed(mixed)

    def refine(
        self,
        cond_tokens: Mapping[str, Tensor],
        proposal: Tensor,
        generator: Optional[torch.Generator] = None,
        num_inference_steps: Optional[int] = None,
    ) -> Tensor:
        """Refine a proposal with truncated few-step denoising.

        Args:
            cond_tokens (dict[str, Tensor]): name -> (B, L_s, C_s).
            proposal (Tensor): (B, T, 2), ego frame metres.
            generator (torch.Generator | None): start noise; None = a CPU generator seeded with ``seed``.
            num_inference_steps (int | None): override of the configured step count (0 = return the proposal).

        Returns:
            Tensor: (B, T, 2) refined trajectory, ego frame metres, dtype of ``proposal``.
        """
        self._check(proposal, cond_tokens, 'refine')
        if generator is None:
            generator = torch.Generator(device='cpu').manual_seed(self.seed)
        dtype = self.pos_embed.dtype
        prop_n = proposal.to(dtype) / self.traj_scale
        steps = self.diffusion.inference_timesteps(num_inference_steps)
        if not steps:
            return proposal
        cond = self.encode_cond(cond_tokens)
        x0 = self.diffusion.sample(
            lambda x, t: self.denoise(x, t, prop_n, cond), prop_n, generator, num_inference_steps
        )
        return (x0 * self.traj_scale).to(proposal.dtype)
