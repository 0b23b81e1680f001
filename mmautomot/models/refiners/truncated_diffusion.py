# Copyright (c) mmautomot contributors. All rights reserved.
"""Truncated diffusion around diffusers' schedulers: noise a proposal a little, denoise it in a few steps."""

from typing import Callable, List, Optional, Tuple

import numpy as np
import torch
from diffusers import DDIMScheduler, FlowMatchEulerDiscreteScheduler
from diffusers.utils.torch_utils import randn_tensor
from torch import Tensor

SCHEDULERS = ('ddim', 'flow')
PREDICTIONS = dict(ddim=('sample', 'epsilon'), flow=('sample', 'velocity'))
NOISE_SOURCES = ('proposal', 'gt')


class TruncatedDiffusion:
    """Few-step truncated diffusion that starts from a noised proposal (DiffusionDrive-style).

    The maths lives in diffusers' schedulers; this class only chooses the timesteps and the regression
    targets. With ``N = num_train_timesteps``, ``T = truncation_timestep`` and ``n = num_inference_steps``:

    * Training: ``t ~ U{1..T}``; ``x_t`` is ``DDIMScheduler.add_noise(x_start, eps, t)`` (``'ddim'``) or
      ``sigma_t * eps + (1 - sigma_t) * x_start`` with ``sigma_t = t / N`` (``'flow'``, the same interpolation
      as ``FlowMatchEulerDiscreteScheduler.scale_noise``, written out because ``scale_noise`` only accepts
      the current inference timesteps). ``x_start`` is the proposal (``noise_source='proposal'``, truncated
      diffusion as in DiffusionDrive: the model learns to map a noised proposal to the GT) or the GT
      (``'gt'``, the usual diffusion training). The target is the model output that makes the scheduler's x0
      estimate equal the GT: ``gt`` (``prediction_type='sample'``), ``(x_t - sqrt(a_t) gt) / sqrt(1 - a_t)``
      (``'epsilon'``; the drawn noise itself when ``noise_source='gt'``), ``(x_t - gt) / sigma_t``
      (``'velocity'``, flow ``noise - x0``).
    * Inference: ``x_T`` = the proposal noised at ``T``; then ``n`` deterministic steps at
      ``T, T - T/n, ..., T/n`` (``DDIMScheduler.step`` with ``eta=0``, or the Euler steps of
      ``FlowMatchEulerDiscreteScheduler`` down to sigma 0). The result is the scheduler's x0 estimate of the
      last step (DDIM: ``pred_original_sample``; flow: the sample at sigma 0, which is that estimate).
      ``n = 0`` returns the proposal unchanged (no noise, no model call).

    Practice elsewhere: DiffusionDrive truncates at a small ``T`` with 2 DDIM steps (our default ``T=50`` of
    1000 with the ``scaled_linear`` betas: noise std ``sqrt(1 - a_50)`` = 0.096 in normalised units);
    Diffusion Policy uses 8 DDIM steps from pure noise, pi0 10 Euler flow steps.

    Args:
        scheduler (str): ``'ddim'`` or ``'flow'``. Defaults to 'ddim'.
        num_train_timesteps (int): N. Defaults to 1000.
        truncation_timestep (int): T, the noise level of the start point, 1 <= T <= N. Defaults to 50.
        num_inference_steps (int): n >= 0; T must be a multiple of n. Defaults to 2.
        prediction_type (str): what the model predicts: ``'sample'`` (x0, both schedulers; for flow it is
            turned into the velocity ``(x_t - x0) / sigma_t`` for the Euler step), ``'epsilon'`` (DDIM) or
            ``'velocity'`` (flow, ``noise - x0``; ill-conditioned with ``noise_source='proposal'`` because the
            target ``(x_t - gt) / sigma_t`` grows as ``1 / sigma_t``). Defaults to 'sample'.
        beta_schedule (str): DDIM betas (diffusers name). Defaults to 'scaled_linear'.
        noise_source (str): ``'proposal'`` or ``'gt'`` (see above). Defaults to 'proposal'.
    """

    def __init__(
        self,
        scheduler: str = 'ddim',
        num_train_timesteps: int = 1000,
        truncation_timestep: int = 50,
        num_inference_steps: int = 2,
        prediction_type: str = 'sample',
        beta_schedule: str = 'scaled_linear',
        noise_source: str = 'proposal',
    ):
        if scheduler not in SCHEDULERS:
            raise ValueError(f'TruncatedDiffusion: scheduler must be one of {SCHEDULERS}, got {scheduler!r}')
        if prediction_type not in PREDICTIONS[scheduler]:
            raise ValueError(
                f'TruncatedDiffusion: prediction_type must be one of {PREDICTIONS[scheduler]} for '
                f'{scheduler!r}, got {prediction_type!r}'
            )
        if noise_source not in NOISE_SOURCES:
            raise ValueError(f'TruncatedDiffusion: noise_source must be one of {NOISE_SOURCES}, got {noise_source!r}')
        if not 1 <= truncation_timestep <= num_train_timesteps:
            raise ValueError(
                f'TruncatedDiffusion: truncation_timestep must be in [1, {num_train_timesteps}], '
                f'got {truncation_timestep}'
            )
        self.kind = scheduler
        self.prediction_type = prediction_type
        self.noise_source = noise_source
        self.num_train_timesteps = num_train_timesteps
        self.truncation_timestep = truncation_timestep
        self.num_inference_steps = num_inference_steps
        self.inference_timesteps()  # validate n against T and N
        if scheduler == 'ddim':
            self.scheduler = DDIMScheduler(
                num_train_timesteps=num_train_timesteps,
                beta_schedule=beta_schedule,
                clip_sample=False,
                set_alpha_to_one=True,
                steps_offset=0,
                prediction_type=prediction_type,
            )
        else:
            self.scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=num_train_timesteps, shift=1.0)

    # ------------------------------------------------------------------ schedule
    def inference_timesteps(self, num_inference_steps: Optional[int] = None) -> List[int]:
        """``[T, T - s, ..., s]`` with ``s = T / n`` (empty for ``n = 0``)."""
        n = self.num_inference_steps if num_inference_steps is None else num_inference_steps
        T, N = self.truncation_timestep, self.num_train_timesteps
        if n == 0:
            return []
        if n < 0 or T % n:
            raise ValueError(
                f'TruncatedDiffusion: truncation_timestep {T} must be a non-negative multiple of '
                f'num_inference_steps {n}'
            )
        s = T // n
        if N // (N // s) != s:  # DDIMScheduler steps by N // num_inference_steps
            raise ValueError(
                f'TruncatedDiffusion: step {s} = truncation_timestep / num_inference_steps cannot be '
                f'expressed as {N} // k (pick T/n dividing {N} or small)'
            )
        return [T - k * s for k in range(n)]

    def sigma(self, t: Tensor) -> Tensor:
        """Flow noise level ``sigma_t = t / N`` (shift 1), shaped like ``t``."""
        return t.float() / self.num_train_timesteps

    def _alpha_bar(self, t: Tensor) -> Tensor:
        return self.scheduler.alphas_cumprod.to(t.device)[t.long()]

    # ------------------------------------------------------------------ training
    def noise(self, x: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        return randn_tensor(x.shape, generator=generator, device=x.device, dtype=x.dtype)

    def add_noise(self, x_start: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """(B, ...) ``x_t`` for per-sample timesteps ``t`` (B,) long."""
        if self.kind == 'ddim':
            return self.scheduler.add_noise(x_start, eps, t)
        sigma = self.sigma(t).to(x_start.dtype).view(-1, *([1] * (x_start.dim() - 1)))
        return sigma * eps + (1.0 - sigma) * x_start

    def target(self, x_t: Tensor, gt: Tensor, t: Tensor) -> Tensor:
        """The model output whose scheduler x0 estimate at ``(x_t, t)`` is ``gt``."""
        view = (-1, *([1] * (gt.dim() - 1)))
        if self.prediction_type == 'sample':
            return gt
        if self.kind == 'flow':
            return (x_t - gt) / self.sigma(t).to(gt.dtype).view(view)
        a = self._alpha_bar(t).to(gt.dtype).view(view)
        return (x_t - a.sqrt() * gt) / (1 - a).sqrt()

    def scheduler_output(self, output: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """Model output -> what the scheduler's ``step`` expects (flow + x0 prediction: the velocity
        ``(x_t - x0) / sigma_t``; otherwise unchanged, DDIMScheduler converts x0 itself)."""
        if self.kind == 'flow' and self.prediction_type == 'sample':
            return (x_t - output) / self.sigma(t).to(x_t.dtype).view(-1, *([1] * (x_t.dim() - 1)))
        return output

    def training_sample(
        self, proposal: Tensor, gt: Tensor, generator: Optional[torch.Generator] = None
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Draw ``t ~ U{1..T}`` and noise; return ``(x_t, t (B,) long, target)`` (normalised units)."""
        bsz = gt.shape[0]
        t = torch.randint(1, self.truncation_timestep + 1, (bsz,), generator=generator, device='cpu').to(gt.device)
        eps = self.noise(gt, generator)
        x_start = proposal if self.noise_source == 'proposal' else gt
        x_t = self.add_noise(x_start, eps, t)
        return x_t, t, self.target(x_t, gt, t)

    # ------------------------------------------------------------------ inference
    def sample(
        self,
        denoise: Callable[[Tensor, Tensor], Tensor],
        proposal: Tensor,
        generator: Optional[torch.Generator] = None,
        num_inference_steps: Optional[int] = None,
    ) -> Tensor:
        """Refine ``proposal`` (B, ...) with ``denoise(x_t, t (B,)) -> model output``; returns the x0 estimate."""
        steps = self.inference_timesteps(num_inference_steps)
        if not steps:
            return proposal
        bsz = proposal.shape[0]
        sched = self.scheduler
        eps = self.noise(proposal, generator)
        t0 = torch.full((bsz,), steps[0], dtype=torch.long, device=proposal.device)
        x = self.add_noise(proposal, eps, t0)
        if self.kind == 'ddim':
            # DDIMScheduler.step goes from t to t - N // num_inference_steps = t - T / n
            sched.set_timesteps(self.num_train_timesteps // (self.truncation_timestep // len(steps)))
            for t in steps:
                out = sched.step(denoise(x, torch.full_like(t0, t)), t, x, eta=0.0)
                x, x0 = out.prev_sample, out.pred_original_sample
            return x0
        sched.set_timesteps(sigmas=np.asarray(steps, dtype=np.float32) / self.num_train_timesteps)
        for t in sched.timesteps:
            tt = t.expand(bsz).to(proposal.device)
            x = sched.step(self.scheduler_output(denoise(x, tt), x, tt), t, x).prev_sample.to(proposal.dtype)
        return x
