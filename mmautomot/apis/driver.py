# Copyright (c) mmautomot contributors. All rights reserved.
"""A closed-loop driver around a model with ``ue_tick`` / ``ae_tick`` (AutoMoT), running the UE refresh policy."""

import time
from collections import deque
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from mmautomot.datasets.transforms.loading_arrays import array_pipeline
from mmautomot.datasets.transforms.vlm_inputs import ProcessVLMInputs
from mmautomot.models.mot.ue_refresh import warn_renamed
from mmautomot.registry import TASK_UTILS, TRANSFORMS
from mmautomot.structures import driving_prompt, meta_action_to_text

#: the pipeline of a model without a config (built in code): frames and points as given, the prompt left to
#: the model (``driving_prompt`` of command and speed), no ground truth
DEFAULT_DRIVER_PIPELINE = (
    dict(type='LoadFrontCamHistoryFromArray', num_frames=None, img_size=None),
    dict(type='LoadMultiViewImagesFromArray', cam_names=None, img_size=None),
    dict(type='LoadPointsFromArray'),
    dict(type='BuildPlanningTargets', with_prompt=False),
    dict(type='PackDrivingInputs'),
)


def config_test_pipeline(cfg) -> Optional[list]:
    """The test (else val) dataset pipeline of a config, or None."""
    if cfg is None:
        return None
    for loader in ('test_dataloader', 'val_dataloader'):
        pipeline = ((cfg.get(loader) or {}).get('dataset') or {}).get('pipeline')
        if pipeline:
            return list(pipeline)
    return None


def _is_vlm_transform(name) -> bool:
    cls = TRANSFORMS.get(name) if isinstance(name, str) else name
    return isinstance(cls, type) and issubclass(cls, ProcessVLMInputs)


def _chw(img: np.ndarray, key: str) -> torch.Tensor:
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(f'Driver.step: {key} must be an (H, W, 3) uint8 RGB array, got {arr.shape} {arr.dtype}')
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)


class Driver:
    """Run a model step by step on plain numpy observations (see docs/contracts.md, Inference API).

    The understanding expert refreshes the prefix KV cache when the UE refresh policy finds it due
    (``ue_interval`` ticks old, or every tick in ``'sync'`` mode), in the control thread (``'sync'``,
    ``'inline'``) or in a background worker writing a second cache (``'background'``); the action expert
    runs at every tick against the cache it is handed (:class:`~mmautomot.models.mot.UERefreshPolicy`).

    Args:
        model: a model exposing ``data_preprocessor``, ``ue_tick(inputs, cache, data_samples, tick)`` and
            ``ae_tick(inputs, cache)`` (e.g. AutoMoT); ``ue_tick`` allocates a new cache when ``cache`` is
            None. Its UE's ``num_frames`` sets the history length. When the model has a refiner
            (``has_refiner``, AutoMoT+), its ``refiner_tick(inputs, ae_out)`` runs after the AE every tick.
        ue_refresh (dict | UERefreshPolicy | None): defaults to ``model.cfg.ue_refresh`` if set, else
            ``UERefreshPolicy()`` (``'inline'``, UE every 2nd tick).
        cam_names (Sequence[str] | None): camera order of ``observation['images']``; defaults to sorted
            keys with 'CAM_FRONT' first.
        front_cam (str): camera whose frames build the UE history. Defaults to 'CAM_FRONT'.
        pipeline (list[dict] | None): the dataset pipeline the observation runs through (file loaders are
            swapped for from-array ones, :func:`~mmautomot.datasets.transforms.loading_arrays.array_pipeline`).
            Defaults to the test (else val) pipeline of ``model.cfg``, else :data:`DEFAULT_DRIVER_PIPELINE`.
        hist_stride (int | None): control ticks between consecutive UE history frames, counted with the
            observation's ``tick`` (e.g. 10 at 20 Hz for a dataset whose history frames are 0.5 s apart, as
            :mod:`mmautomot.datasets.bench2drive.converter` writes them); each history slot takes the newest
            frame at or before its tick, the route's first frame before the start. None reads the model
            config's ``ue_hist_stride`` and falls back to 1 (every call, the older behaviour).
        scheduler: deprecated name of ``ue_refresh`` (warns once); so is a config's ``scheduler`` key.
        **ue_refresh_overrides: ``mode``, ``ue_interval``, ``max_cache_age``, ``on_stale``,
            ``worker_threads``, ``synchronous`` merged into the policy config (e.g.
            ``Driver(model, mode='background')``; the closed-loop configs'
            ``driver_kwargs`` and ``tools/bench2drive/serve_model.py --driver-kwargs`` pass them this way).

    Observation keys besides the sensors (see :meth:`step`): ``reset`` (bool, True on a route's first
    tick: history and cache are dropped) and ``tick`` (int, the caller's control tick, which the UE
    schedule and the cache age follow; without it every call is one tick). Call :meth:`close` when done
    (stops a background worker).
    """

    UE_REFRESH_KEYS = ('mode', 'ue_interval', 'max_cache_age', 'on_stale', 'worker_threads', 'synchronous')

    def __init__(
        self,
        model,
        ue_refresh=None,
        cam_names: Optional[Sequence[str]] = None,
        front_cam: str = 'CAM_FRONT',
        pipeline: Optional[Sequence[dict]] = None,
        hist_stride: Optional[int] = None,
        scheduler=None,
        **ue_refresh_overrides,
    ):
        unknown = sorted(set(ue_refresh_overrides) - set(self.UE_REFRESH_KEYS))
        if unknown:
            raise TypeError(
                f'Driver: unknown arguments {unknown}; UE refresh overrides are {list(self.UE_REFRESH_KEYS)}'
            )
        self.model = model.eval()
        if scheduler is not None:
            warn_renamed('Driver(scheduler=...)', 'Driver(ue_refresh=...)')
            if ue_refresh is not None:
                raise TypeError('Driver: pass ue_refresh only (scheduler is its deprecated name)')
            ue_refresh = scheduler
        if ue_refresh is None:
            ue_refresh = self._config_policy(getattr(model, 'cfg', None))
        if ue_refresh_overrides:
            if not isinstance(ue_refresh, dict):
                raise TypeError('Driver: UE refresh overrides need a ue_refresh config dict, not an instance')
            ue_refresh = dict(ue_refresh, **ue_refresh_overrides)
        self.ue_refresh = TASK_UTILS.build(ue_refresh) if isinstance(ue_refresh, dict) else ue_refresh
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
        if pipeline is None:
            pipeline = config_test_pipeline(getattr(model, 'cfg', None))
        self.pipeline = self._build_pipeline(DEFAULT_DRIVER_PIPELINE if pipeline is None else pipeline)

    def _build_pipeline(self, pipeline: Sequence[dict]) -> list:
        """The dataset pipeline on an observation: from-array loaders, no ground truth, the observation's
        prompt kept, its target point used (a route planner's, see ``BuildPlanningTargets``), the model's own
        UE as the processor of ``ProcessVLMInputs`` and ``cam_names`` (if given) as the cameras."""
        transforms = []
        for cfg in array_pipeline(pipeline):
            if cfg['type'] == 'BuildPlanningTargets':
                cfg.update(with_gt=False, keep_prompt=True, use_target_point=True)
            if cfg['type'] == 'LoadMultiViewImagesFromArray' and self.cam_names is not None:
                cfg['cam_names'] = self.cam_names
            if _is_vlm_transform(cfg['type']):  # ProcessVLMInputs or a variant: the model's own UE processes
                cfg = dict(cfg, processor=self._ue)
                cfg.pop('ue', None)
            transforms.append(TRANSFORMS.build(cfg))
        if getattr(self.model, 'require_vlm_inputs', False) and not any(
            isinstance(t, ProcessVLMInputs) for t in transforms
        ):
            raise ValueError(
                "Driver: the model requires the pipeline's UE inputs (require_vlm_inputs=True) but the pipeline has "
                f'no ProcessVLMInputs: {[c.get("type") for c in pipeline]}'
            )
        self.view_loader = next((t for t in transforms if type(t).__name__ == 'LoadMultiViewImagesFromArray'), None)
        # a pipeline without a point (history) loader gets no points (history frames), as the dataset's
        names = {type(t).__name__ for t in transforms}
        self.uses_points = 'LoadPointsFromArray' in names
        self.uses_history = 'LoadFrontCamHistoryFromArray' in names
        return transforms

    @property
    def _ue(self):
        """The model's VLM expert (AutoMoT / Drive-pi0: ``model.mot.ue``; SAMoE-VLA: ``model.vlm``)."""
        return self.model.mot.ue if hasattr(self.model, 'mot') else self.model.vlm

    @staticmethod
    def _config_policy(cfg) -> dict:
        """The model config's ``ue_refresh`` (or its deprecated ``scheduler``) as a dict."""
        policy = cfg.get('ue_refresh', None) if cfg is not None else None
        if policy is None and cfg is not None and cfg.get('scheduler', None) is not None:
            warn_renamed("the config key 'scheduler'", "'ue_refresh'")
            policy = cfg.get('scheduler')
        return dict(policy) if policy is not None else dict(type='UERefreshPolicy')

    @property
    def scheduler(self):
        """Deprecated name of :attr:`ue_refresh`."""
        warn_renamed('Driver.scheduler', 'Driver.ue_refresh')
        return self.ue_refresh

    def reset(self) -> None:
        """Forget the history and the cache (new route; a background refresh in flight is waited for and
        dropped)."""
        self.ue_refresh.reset()
        self.history.clear()
        self.calls = 0
        self.last_hist = None
        self.last_context = None

    def close(self) -> None:
        """Stop the UE refresh policy's background worker (waits for a refresh in flight)."""
        self.ue_refresh.close()

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
        """Observation -> preprocessed ``dict(inputs, data_samples)`` (batch of one).

        The observation becomes a pipeline result (``images`` by camera, ``points`` and ``img_hist`` (from
        :meth:`_img_hist`) when the pipeline loads them, ``ego_status`` (else ``[speed, 0, 0, 0]``),
        ``target_point``, ``command``, optional
        ``ego_hist_trajs``, ``prompt``, ``instruction``) that runs through :attr:`pipeline`, then the model's
        data preprocessor: the same transforms as the dataset's, so sizes, point columns, prompt and UE
        tokens match training.
        """
        for key in ('images', 'points', 'speed', 'target_point', 'command'):
            if key not in obs:
                raise KeyError(f'Driver.step: observation lacks {key!r} (keys: {sorted(obs)})')
        names = self.cam_names or (self.view_loader.cam_names if self.view_loader is not None else None)
        names = names or sorted(obs['images'], key=lambda n: (n != self.front_cam, n))
        missing = [n for n in names if n not in obs['images']]
        if missing:
            raise KeyError(f'Driver.step: observation images lack cameras {missing}')
        front_name = self.front_cam if self.front_cam in names else names[0]
        front = _chw(obs['images'][front_name], f"images['{front_name}']")
        for n in names:
            _chw(obs['images'][n], f"images['{n}']")
        ego_status = obs.get('ego_status')
        if ego_status is None:
            ego_status = np.array([obs['speed'], 0.0, 0.0, 0.0], dtype=np.float32)
        hist = self._img_hist(obs, front)
        results = dict(
            token='<observation>',
            images={n: obs['images'][n] for n in names},
            ego_status=np.asarray(ego_status, dtype=np.float32),
            target_point=np.asarray(obs['target_point'], dtype=np.float32),
            command=int(obs['command']),
        )
        if self.uses_history:
            results['img_hist'] = list(hist.permute(0, 2, 3, 1).numpy())
        if self.uses_points:
            results['points'] = np.asarray(obs['points'], dtype=np.float32)
        for key in ('cam_intrinsics', 'cam2ego'):  # optional calibration, {cam: matrix}
            if obs.get(key) is not None:
                results[key] = obs[key]
        if obs.get('ego_hist_trajs') is not None:  # optional past ego positions (N, 2), ego frame, oldest first
            results['ego_hist_trajs'] = np.asarray(obs['ego_hist_trajs'], dtype=np.float32)
        for key in ('prompt', 'instruction'):
            if obs.get(key):
                results[key] = obs[key]
        for transform in self.pipeline:
            results = transform(results)
        return self.model.data_preprocessor([results])

    @torch.no_grad()
    def step(self, observation: dict) -> Dict:
        """One control tick.

        Returns:
            dict: ``meta_actions`` (K, 2) int64, ``meta_action_text`` (list[str]), ``path`` (P, 2) and
            ``waypoints`` (T, 2) float32 in the ego frame (x forward, y left, metres), ``timings_ms``
            (``preprocess``, ``ue`` (ms the tick waited for the UE, 0 if none), ``ae``, ``total``; plus
            ``refiner`` with a refiner, ``ue_worker`` when a background refresh was swapped in), ``ue_ran``,
            ``cache_age``, ``tick``, ``ue_refresh`` (``mode``, ``cache_age``, ``cache_tick``: the observation
            tick of the cache the AE read, ``refresh_in_flight``, ``swapped``); with a refiner ``waypoints``
            are the refined ones and ``waypoints_proposal`` (T, 2) the action expert's; ``info`` (dict of
            floats) when the model's ``ae_tick`` reports one (e.g. DriveMoE's ``flow_steps`` and ``routed_view``).
        """
        t0 = time.perf_counter()
        if observation.get('reset', False):
            self.reset()
        data = self.prepare(observation)
        self.last_context = (int(observation['command']), float(observation['speed']))
        t_prep = (time.perf_counter() - t0) * 1e3
        inputs, samples = data['inputs'], data['data_samples']

        def ue_fn(tick, cache):  # cache: the one to overwrite, or None for a new one (background refresh)
            return self.model.ue_tick(inputs, cache=cache, data_samples=samples, tick=tick)

        tick = observation.get('tick')
        res = self.ue_refresh.step(
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
            ue_refresh={k: res[k] for k in ('mode', 'cache_age', 'cache_tick', 'refresh_in_flight', 'swapped')},
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
        cache = self.ue_refresh.cache
        if cache is None or self.last_context is None:
            raise RuntimeError('Driver.answer: no driving cache yet; call step() first')
        ue = self.model.mot.ue
        ids = ue.answer_from_cache(
            cache, ue.question_ids(question, driving_prompt(*self.last_context)), max_new_tokens=max_new_tokens
        )
        return ids if return_ids else ue.tokenizer.decode(ids, skip_special_tokens=True)
