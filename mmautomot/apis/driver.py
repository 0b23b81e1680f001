# Copyright (c) mmautomot contributors. All rights reserved.
"""A closed-loop driver around a model with ``ue_tick`` / ``ae_tick`` (AutoMoT), running the async scheduler."""

import time
from collections import deque
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from mmautomot.models.vlm.qwen3vl_expert import driving_prompt
from mmautomot.registry import TASK_UTILS
from mmautomot.structures import DrivingDataSample, meta_action_to_text


def _chw(img: np.ndarray, key: str) -> torch.Tensor:
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(f'Driver.step: {key} must be an (H, W, 3) uint8 RGB array, got {arr.shape} {arr.dtype}')
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)


class Driver:
    """Run a model step by step on plain numpy observations (see docs/contracts.md, Inference API).

    The understanding expert refreshes the prefix KV cache when the scheduler finds it due (``ue_interval``
    ticks old, or every tick in synchronous mode); the action expert runs at every tick against the cache.

    Args:
        model: a model exposing ``data_preprocessor``, ``ue_tick(inputs, cache, data_samples, tick)`` and
            ``ae_tick(inputs, cache)`` (e.g. AutoMoT); its UE's ``num_frames`` sets the history length. When
            the model has a refiner (``has_refiner``, AutoMoT+), its ``refiner_tick(inputs, ae_out)`` runs after the AE
            every tick.
        scheduler (dict | AsyncScheduler | None): defaults to ``model.cfg.scheduler`` if set, else
            ``AsyncScheduler()``.
        cam_names (Sequence[str] | None): camera order of ``observation['images']``; defaults to sorted
            keys with 'CAM_FRONT' first.
        front_cam (str): camera whose frames build the UE history. Defaults to 'CAM_FRONT'.
        hist_stride (int | None): control ticks between consecutive UE history frames, counted with the
            observation's ``tick`` (e.g. 10 at 20 Hz for a dataset whose history frames are 0.5 s apart, as
            :mod:`mmautomot.datasets.bench2drive.converter` writes them); each history slot takes the newest
            frame at or before its tick, the route's first frame before the start. None reads the model
            config's ``ue_hist_stride`` and falls back to 1 (every call, the older behaviour).
        **scheduler_overrides: ``ue_interval``, ``max_cache_age``, ``on_stale``, ``synchronous`` merged into
            the scheduler config (e.g. ``Driver(model, ue_interval=4)``; the closed-loop configs and
            ``tools/bench2drive/serve_model.py --driver-kwargs`` pass them this way).

    Observation keys besides the sensors (see :meth:`step`): ``reset`` (bool, True on a route's first
    tick: history and cache are dropped) and ``tick`` (int, the caller's control tick, which the UE
    schedule and the cache age follow; without it every call is one tick).
    """

    SCHEDULER_KEYS = ('ue_interval', 'max_cache_age', 'on_stale', 'synchronous')

    def __init__(
        self,
        model,
        scheduler=None,
        cam_names: Optional[Sequence[str]] = None,
        front_cam: str = 'CAM_FRONT',
        hist_stride: Optional[int] = None,
        **scheduler_overrides,
    ):
        unknown = sorted(set(scheduler_overrides) - set(self.SCHEDULER_KEYS))
        if unknown:
            raise TypeError(f'Driver: unknown arguments {unknown}; scheduler overrides are {list(self.SCHEDULER_KEYS)}')
        self.model = model.eval()
        if scheduler is None:
            cfg = getattr(model, 'cfg', None)
            scheduler = cfg.get('scheduler', None) if cfg is not None else None
            scheduler = dict(scheduler) if scheduler is not None else dict(type='AsyncScheduler')
        if scheduler_overrides:
            if not isinstance(scheduler, dict):
                raise TypeError('Driver: scheduler overrides need a scheduler config dict, not an instance')
            scheduler = dict(scheduler, **scheduler_overrides)
        self.scheduler = TASK_UTILS.build(scheduler) if isinstance(scheduler, dict) else scheduler
        self.cam_names = list(cam_names) if cam_names is not None else None
        self.front_cam = front_cam
        # the VLM expert's history length (AutoMoT / Drive-pi0: model.mot.ue; SAMoE-VLA: model.vlm)
        self.num_frames = (model.mot.ue if hasattr(model, 'mot') else model.vlm).num_frames
        if hist_stride is None:
            cfg = getattr(model, 'cfg', None)
            hist_stride = cfg.get('ue_hist_stride', None) if cfg is not None else None
        hist_stride = 1 if hist_stride is None else hist_stride
        if isinstance(hist_stride, bool) or not isinstance(hist_stride, int) or hist_stride < 1:
            raise ValueError(f'Driver: hist_stride must be a positive int (ticks), got {hist_stride!r}')
        self.hist_stride = hist_stride
        self.history = deque()  # (tick, front frame), oldest first
        self.calls = 0  # the tick of an observation without one
        self.last_hist: Optional[torch.Tensor] = None
        self.last_context: Optional[tuple] = None  # (command, speed) of the last step, for answer()

    def reset(self) -> None:
        """Forget the history and the cache (new route)."""
        self.scheduler.reset()
        self.history.clear()
        self.calls = 0
        self.last_hist = None
        self.last_context = None

    def _img_hist(self, obs: dict, front: torch.Tensor) -> torch.Tensor:
        """(num_frames, 3, H, W) UE history: frames ``hist_stride`` ticks apart, the newest (this call's) last."""
        if obs.get('img_hist') is not None:
            frames = [_chw(f, 'img_hist[i]') for f in obs['img_hist']][-self.num_frames :]
            frames = [frames[0]] * (self.num_frames - len(frames)) + frames  # repeat the earliest at a start
        else:
            tick = int(obs['tick']) if obs.get('tick') is not None else self.calls
            self.calls += 1
            while self.history and self.history[-1][0] >= tick:  # a repeated tick replaces its frame
                self.history.pop()
            self.history.append((tick, front))
            span = (self.num_frames - 1) * self.hist_stride
            # keep the newest frame at or before the oldest slot's tick, drop what is older
            while len(self.history) > 1 and self.history[1][0] <= tick - span:
                self.history.popleft()
            frames = []
            for k in range(self.num_frames - 1, -1, -1):
                want = tick - k * self.hist_stride
                at = [f for t, f in self.history if t <= want]
                frames.append(at[-1] if at else self.history[0][1])  # before the route's start: its first frame
        self.last_hist = torch.stack(frames)
        return self.last_hist

    def prepare(self, obs: dict) -> dict:
        """Observation -> preprocessed ``dict(inputs, data_samples)`` (batch of one)."""
        for key in ('images', 'points', 'speed', 'target_point', 'command'):
            if key not in obs:
                raise KeyError(f'Driver.step: observation lacks {key!r} (keys: {sorted(obs)})')
        names = self.cam_names or sorted(obs['images'], key=lambda n: (n != self.front_cam, n))
        missing = [n for n in names if n not in obs['images']]
        if missing:
            raise KeyError(f'Driver.step: observation images lack cameras {missing}')
        imgs = torch.stack([_chw(obs['images'][n], f"images['{n}']") for n in names])
        front = imgs[names.index(self.front_cam)] if self.front_cam in names else imgs[0]
        ego_status = obs.get('ego_status')
        if ego_status is None:
            ego_status = np.array([obs['speed'], 0.0, 0.0, 0.0], dtype=np.float32)
        inputs = dict(
            img_hist=self._img_hist(obs, front),
            imgs=imgs,
            points=torch.as_tensor(np.asarray(obs['points'], dtype=np.float32)),
            ego_status=torch.as_tensor(np.asarray(ego_status, dtype=np.float32)).reshape(4),
            target_point=torch.as_tensor(np.asarray(obs['target_point'], dtype=np.float32)).reshape(2),
            command=torch.tensor(int(obs['command'])),
        )
        if obs.get('ego_hist_trajs') is not None:  # optional past ego positions (N, 2), ego frame, oldest first
            inputs['ego_hist_trajs'] = torch.as_tensor(np.asarray(obs['ego_hist_trajs'], dtype=np.float32))
        sample = DrivingDataSample(metainfo=dict(cam_names=names))
        if obs.get('prompt'):
            sample.set_metainfo(dict(prompt=obs['prompt']))
        if obs.get('instruction'):
            sample.set_metainfo(dict(instruction=obs['instruction']))
        return self.model.data_preprocessor([dict(inputs=inputs, data_samples=sample)])

    @torch.no_grad()
    def step(self, observation: dict) -> Dict:
        """One control tick.

        Returns:
            dict: ``meta_actions`` (K, 2) int64, ``meta_action_text`` (list[str]), ``path`` (P, 2) and
            ``waypoints`` (T, 2) float32 in the ego frame (x forward, y left, metres), ``timings_ms``
            (``preprocess``, ``ue`` (0 if it did not run), ``ae``, ``total``; plus ``refiner`` with a refiner),
            ``ue_ran``, ``cache_age``, ``tick``; with a refiner ``waypoints`` are the refined ones and
            ``waypoints_proposal`` (T, 2) the action expert's; ``info`` (dict of floats) when the model's
            ``ae_tick`` reports one (e.g. DriveMoE's ``flow_steps`` and ``routed_view``).
        """
        t0 = time.perf_counter()
        if observation.get('reset', False):
            self.reset()
        data = self.prepare(observation)
        self.last_context = (int(observation['command']), float(observation['speed']))
        t_prep = (time.perf_counter() - t0) * 1e3
        inputs, samples = data['inputs'], data['data_samples']
        prev = self.scheduler.cache

        def ue_fn(tick):
            return self.model.ue_tick(inputs, cache=prev, data_samples=samples, tick=tick)

        tick = observation.get('tick')
        res = self.scheduler.step(
            ue_fn, lambda cache: self.model.ae_tick(inputs, cache), tick=None if tick is None else int(tick)
        )
        out = res['output']
        timings = dict(preprocess=t_prep, **res['timings_ms'])
        refiner = self.model.refiner_tick if getattr(self.model, 'has_refiner', False) else None
        if refiner is not None:
            t1 = time.perf_counter()
            out = refiner(inputs, out)
            timings['refiner'] = (time.perf_counter() - t1) * 1e3
        actions = out['meta_actions'][0].cpu().numpy().astype(np.int64)
        timings['total'] = (time.perf_counter() - t0) * 1e3
        result = dict(
            meta_actions=actions,
            meta_action_text=[meta_action_to_text(*a) for a in actions],
            path=out['path'][0].float().cpu().numpy(),
            waypoints=out['waypoints'][0].float().cpu().numpy(),
            timings_ms=timings,
            ue_ran=res['ue_ran'],
            cache_age=res['cache_age'],
            tick=res['tick'],
        )
        if 'waypoints_proposal' in out:
            result['waypoints_proposal'] = out['waypoints_proposal'][0].float().cpu().numpy()
        if 'info' in out:  # model-reported scalars for the latency log (e.g. flow steps, routed view)
            result['info'] = {str(k): float(v) for k, v in out['info'].items()}
        return result

    @torch.no_grad()
    def answer(self, question: str, max_new_tokens: Optional[int] = None, return_ids: bool = False):
        """Free-text answer of the understanding expert, continuing the driving prefix cache.

        The question is appended after the cached driving prefix (the frames and prompt of the last UE
        refresh) in a new user turn that also states the current driving context (navigation command
        and speed of the last :meth:`step`); greedy decoding continues from the cache, so neither the
        vision tower nor a prefill runs again. The cache itself is not modified.

        Args:
            question (str): e.g. 'What is your current action and why?'.
            max_new_tokens (int | None): defaults to the UE's ``max_new_tokens``.
            return_ids (bool): return the generated token ids instead of the decoded text.

        Returns:
            str | list[int]: the answer (special tokens skipped) or its token ids.
        """
        cache = self.scheduler.cache
        if cache is None or self.last_context is None:
            raise RuntimeError('Driver.answer: no driving cache yet; call step() first')
        ue = self.model.mot.ue
        ids = ue.answer_from_cache(
            cache, ue.question_ids(question, driving_prompt(*self.last_context)), max_new_tokens=max_new_tokens
        )
        return ids if return_ids else ue.tokenizer.decode(ids, skip_special_tokens=True)
