# Copyright (c) mmautomot contributors. All rights reserved.
"""Training memory per GPU of a mixture-of-transformers model, estimated on the meta device.

Used by ``tools/analysis_tools/estimate_memory.py``. Four parts, in bytes per GPU:

* **parameters**: every parameter in its stored dtype, divided by the GPU count when the strategy shards
  parameters (FSDP full shard, ZeRO-3). FSDP additionally all-gathers units in the compute dtype while they
  run: the root unit (everything outside joint layers / vision blocks) for the whole step plus two joint-layer
  units (the running one and the prefetched one): ``param_gather``.
* **gradients**: trainable parameters in the gradient dtype (the parameter's; fp32 under ZeRO's bf16 mode),
  sharded under FSDP / ZeRO-2/3.
* **optimizer states**: AdamW's two moments per trainable parameter (the parameter's dtype; fp32 under ZeRO,
  which also keeps an fp32 master copy of bf16 trainable parameters), sharded under FSDP / ZeRO-1/2/3.
* **activations**: the tensors autograd saves for the backward pass in the joint layer stack (UE + AE decoder
  layers), measured by running :func:`mot_forward` on meta tensors of the real shapes in the compute dtype
  under ``torch.autograd.graph.saved_tensors_hooks``, each storage counted once, parameters excluded. With
  activation checkpointing per joint layer only the inputs of every joint layer are kept, plus one layer's
  saved tensors while it is recomputed in the backward pass. On the meta device attention runs torch's math
  path, which saves the (B, heads, L, L) attention weights; GPU flash / memory-efficient kernels save only the
  output and the log-sum-exp, so the no-checkpointing figure is an upper bound there. For AutoMoT-style models
  the AE's inputs and outputs (BEV encoder, token MLPs, heads; not checkpointed) are measured the same way
  (:func:`ae_input_activations`). A frozen UE (vision tower, embeddings) keeps no activations.

Activations scale with the per-GPU batch; everything else with ``1 / gpus`` (sharded) or not at all.
"""

from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from mmautomot.models.mot import JointLayer, mot_forward
from mmautomot.models.mot.fsdp import fsdp_unit_modules

GIB = float(1 << 30)


def _dtype(value) -> Optional[torch.dtype]:
    if value is None or isinstance(value, torch.dtype):
        return value
    return getattr(torch, str(value).replace('torch.', ''))


def strategy_kind(strategy: Optional[dict]) -> Dict:
    """``{'kind': 'fsdp' | 'zero' | 'ddp', 'zero_stage': int, 'compute_dtype': dtype | None}`` of a config's
    ``strategy`` (None or another type: plain data parallel)."""
    strategy = dict(strategy or {})
    kind = strategy.get('type', '')
    if kind in ('FSDPStrategy', 'mmengine.FSDPStrategy'):
        mp = (strategy.get('model_wrapper') or {}).get('mixed_precision') or {}
        return dict(kind='fsdp', zero_stage=3, compute_dtype=_dtype(mp.get('param_dtype')))
    if kind in ('DeepSpeedStrategy', 'mmengine.DeepSpeedStrategy'):
        stage = int((strategy.get('zero_optimization') or {}).get('stage', 0))
        bf16 = (strategy.get('bf16') or {}).get('enabled', False)
        fp16 = (strategy.get('fp16') or {}).get('enabled', False)
        dtype = torch.bfloat16 if bf16 else torch.float16 if fp16 else None
        return dict(kind='zero', zero_stage=stage, compute_dtype=dtype)
    return dict(kind='ddp', zero_stage=0, compute_dtype=None)


def unique_parameters(model: nn.Module):
    """Parameters counted once (shared modules / tied weights)."""
    seen, out = set(), []
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def state_bytes(model: nn.Module, gpus: int, strategy: Dict, optimizer_states: int = 2) -> Dict[str, float]:
    """Parameter, gradient and optimizer-state bytes per GPU (see the module docstring).

    Args:
        model (nn.Module): the model (any device; only shapes, dtypes and ``requires_grad`` are read).
        gpus (int): data-parallel GPUs.
        strategy (dict): :func:`strategy_kind` output.
        optimizer_states (int): states per trainable parameter (AdamW: 2). Defaults to 2.
    """
    params = unique_parameters(model)
    kind, stage = strategy['kind'], strategy['zero_stage']
    cdt = strategy['compute_dtype']
    zero_mixed = kind == 'zero' and cdt is not None
    stored = sum(p.numel() * (cdt.itemsize if zero_mixed else p.element_size()) for p in params)
    trainable = [p for p in params if p.requires_grad]
    n_train = sum(p.numel() for p in trainable)
    if zero_mixed:  # DeepSpeed bf16/fp16: fp32 gradients, fp32 master weights and states
        grads, opt = 4 * n_train, (optimizer_states + 1) * 4 * n_train
    else:
        grads = sum(p.numel() * p.element_size() for p in trainable)
        opt = optimizer_states * grads
    shard_params = stage >= 3
    shard_grads = stage >= 2
    shard_opt = stage >= 1
    out = dict(
        parameters=stored / (gpus if shard_params else 1),
        gradients=grads / (gpus if shard_grads else 1),
        optimizer_states=opt / (gpus if shard_opt else 1),
        param_gather=0.0,
    )
    if kind == 'fsdp' and gpus > 1:
        units = fsdp_unit_modules(model)
        in_units = {id(p) for u in units for p in u.parameters()}
        root = sum(p.numel() for p in params if id(p) not in in_units)
        joint = sorted(
            (sum(p.numel() for p in unique_parameters(u)) for u in units if isinstance(u, JointLayer)), reverse=True
        )
        itemsize = cdt.itemsize if cdt is not None else 4
        out['param_gather'] = (root + sum(joint[:2])) * itemsize
    return out


class SavedTensorMeter:
    """Bytes of the tensors autograd saves for the backward pass, each storage once, parameters excluded.

    Use as a context manager around a forward pass. ``total`` is the running sum; storages listed in
    ``watch`` are also summed into ``watched`` when saved (e.g. a layer's own inputs).
    """

    def __init__(self, exclude: Sequence[Tensor] = ()):
        self._exclude = {self.key(t) for t in exclude}
        self._seen = set()
        self.total = 0
        self.watch = set()
        self.watched = 0
        self._alive = list(exclude)  # storages stay alive while measured, so no address is reused
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    @staticmethod
    def key(t: Tensor):
        """Identity of a tensor's storage (views share it)."""
        return t.untyped_storage()._cdata

    def _pack(self, t: Tensor) -> Tensor:
        self._alive.append(t)
        key = self.key(t)
        if key not in self._seen and key not in self._exclude:
            self._seen.add(key)
            self.total += t.untyped_storage().nbytes()
            if key in self.watch:
                self.watched += t.untyped_storage().nbytes()
        return t

    def __enter__(self):
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def joint_stack_activations(
    mot: nn.Module, batch_size: int, ue_tokens: int, ae_tokens: int, dtype: Optional[torch.dtype] = None, device='meta'
) -> Dict[str, float]:
    """Saved activation bytes of the joint layer stack of a :class:`MoTTransformer` for one training step.

    Args:
        mot (nn.Module): a ``MoTTransformer`` (built on ``device``; its dtype is changed to ``dtype``).
        batch_size (int): per-GPU batch B.
        ue_tokens (int): UE sequence length L_u (prompt + image tokens).
        ae_tokens (int): AE tokens L_a.
        dtype (torch.dtype | None): compute dtype; None keeps the AE's parameter dtype.
        device: 'meta' (no memory) or 'cpu' (a real run, for checks on tiny models).

    Returns:
        dict: ``no_checkpointing`` (all saved tensors), ``checkpointing`` (joint-layer inputs plus the largest
        layer's saved tensors, recomputed in the backward), ``per_layer`` (list of saved bytes per joint layer),
        ``layer_inputs`` (bytes of the inputs kept at layer boundaries).
    """
    layers = list(mot.joint_layers)
    dtype = dtype or next(mot.ae_layers.parameters()).dtype
    mot.to(dtype)
    g = mot.ue.head_geometry
    ue_trainable = any(p.requires_grad for jl in layers for p in jl.ue.parameters())
    B, Lu, La = batch_size, ue_tokens, ae_tokens
    kw = dict(device=device, dtype=dtype)
    ue_h = torch.zeros(B, Lu, g['hidden_size'], **kw).requires_grad_(ue_trainable)
    ae_h = torch.zeros(B, La, mot.ae_hidden_size, **kw).requires_grad_(True)
    ue_rope = (torch.ones(B, Lu, g['head_dim'], **kw), torch.zeros(B, Lu, g['head_dim'], **kw))
    ae_rope = (torch.ones(B, La, g['head_dim'], **kw), torch.zeros(B, La, g['head_dim'], **kw))
    mask = torch.ones(B, 1, Lu + La, Lu + La, dtype=torch.bool, device=device)
    was_cp = [jl.with_cp for jl in layers]
    for jl in layers:
        jl.with_cp = False
    meter = SavedTensorMeter(exclude=unique_parameters(mot))
    marks, kept, kept_keys = [], [0], set()

    def pre_hook(module, args):
        tensors = [a for a in args if isinstance(a, Tensor)] + [t for a in args if isinstance(a, tuple) for t in a]
        meter.watch = {meter.key(t) for t in tensors}
        meter._alive.extend(tensors)
        for t in tensors:  # what checkpointing keeps: every layer's inputs (rope / mask shared: once)
            if meter.key(t) not in kept_keys:
                kept_keys.add(meter.key(t))
                kept[0] += t.untyped_storage().nbytes()
        marks.append((meter.total, meter.watched))

    def post_hook(module, args, out):
        marks.append((meter.total, meter.watched))

    hooks = [h for jl in layers for h in (jl.register_forward_pre_hook(pre_hook), jl.register_forward_hook(post_hook))]
    try:
        with torch.enable_grad(), meter:
            mot_forward(None, None, ue_h, ae_h, ue_rope, ae_rope, mask, joint_layers=layers)
    finally:
        for h in hooks:
            h.remove()
        for jl, cp in zip(layers, was_cp):
            jl.with_cp = cp
    # saved inside layer i, without its own inputs (those are kept anyway under checkpointing)
    per_layer = [
        (marks[2 * i + 1][0] - marks[2 * i][0]) - (marks[2 * i + 1][1] - marks[2 * i][1]) for i in range(len(layers))
    ]
    inputs = kept[0]
    return dict(
        no_checkpointing=float(meter.total),
        checkpointing=float(inputs + max(per_layer)),
        per_layer=[float(x) for x in per_layer],
        layer_inputs=float(inputs),
    )


def ae_input_activations(
    model: nn.Module, batch_size: int, cam_size: Sequence[int], dtype: Optional[torch.dtype] = None, device='meta'
) -> Optional[float]:
    """Saved activation bytes of the AE's inputs and outputs: ``model.ae_inputs`` (BEV encoder and token MLPs)
    and ``model._heads``, for an AutoMoT-style model whose BEV encoder rasterises LiDAR in ``rasterize``.

    The rasterisation (no gradient, data-dependent) runs on the CPU on empty clouds and its (B, C, H, W) grid
    is moved to ``device``; the camera images are ``(B, num_cams, 3, H, W)`` with ``cam_size = (W, H)``.
    Returns None when the model does not have that structure.
    """
    encoder = getattr(model, 'bev_encoder', None)
    if not (hasattr(model, 'ae_inputs') and hasattr(model, '_heads') and hasattr(encoder, 'rasterize')):
        return None
    dtype = dtype or next(model.mot.ae_layers.parameters()).dtype
    model.to(dtype)
    B, (W, H) = batch_size, cam_size
    kw = dict(device=device, dtype=dtype)
    grid = encoder.rasterize([torch.zeros(0, 4) for _ in range(B)], torch.device('cpu'))
    inputs = dict(
        imgs=torch.zeros(B, encoder.num_cams, 3, H, W, **kw),
        points=[torch.zeros(0, 4, **kw)] * B,
        target_point=torch.zeros(B, 2, **kw),
        ego_status=torch.zeros(B, 4, **kw),
        command=torch.zeros(B, dtype=torch.long, device=device),
    )
    encoder.rasterize = lambda points, dev: grid.to(dev)
    try:
        with torch.enable_grad(), SavedTensorMeter(exclude=unique_parameters(model)) as meter:
            tokens = model.ae_inputs(inputs)
            model._heads(tokens, inputs)
    finally:
        del encoder.rasterize  # back to the class's method
    return float(meter.total)


def model_token_counts(model: nn.Module) -> Dict[str, int]:
    """UE tokens of one sample (the UE's own input preparation: driving prompt and ``num_frames`` frames at
    ``image_size``, on the CPU, so it also works for a meta-built model) and AE tokens (``model.tokens``).

    The UE count uses the UE's tokenizer: the byte fallback (no pretrained folder) makes the prompt a few
    times longer than Qwen's tokenizer would.
    """
    from mmautomot.models.vlm.qwen3vl_expert import driving_prompt

    mot = model.mot if hasattr(model, 'mot') else model
    ue = mot.ue
    frames = torch.zeros(1, ue.num_frames, 3, *ue.image_size, dtype=torch.uint8)
    ue_tokens = ue.prepare_inputs(frames, [driving_prompt(0, 10.0)], device='cpu')['input_ids'].shape[1]
    tokens = getattr(model, 'tokens', None)
    ae_tokens = sum(tokens.group_sizes) if tokens is not None and hasattr(tokens, 'group_sizes') else None
    return dict(ue=int(ue_tokens), ae=None if ae_tokens is None else int(ae_tokens))


def estimate_memory(
    model: nn.Module,
    gpus: int,
    batch_size: int,
    strategy: Optional[dict],
    ue_tokens: int,
    ae_tokens: int,
    optimizer_states: int = 2,
    cam_size: Optional[Sequence[int]] = None,
) -> Dict:
    """Per-GPU training memory of a model holding a ``MoTTransformer`` at ``model.mot`` (or being one).

    Args:
        model (nn.Module): built on the meta device (its dtype is changed for the activation pass).
        gpus (int): data-parallel GPUs N.
        batch_size (int): samples per GPU B.
        strategy (dict | None): the config's ``strategy`` (FSDP / DeepSpeed) or None (plain DDP).
        ue_tokens (int): UE tokens per sample; ae_tokens (int): AE tokens per sample.
        optimizer_states (int): per-parameter optimizer states (AdamW: 2). Defaults to 2.
        cam_size (Sequence[int] | None): (W, H) of the BEV encoder's cameras; with it the activations of the
            AE inputs / heads (:func:`ae_input_activations`) are added when the model supports it.

    Returns:
        dict: ``bytes`` and ``gib`` per GPU (``parameters``, ``param_gather``, ``gradients``,
        ``optimizer_states``, ``activations`` and ``total`` each ``{'no_checkpointing', 'checkpointing'}``
        where it differs), parameter counts, strategy, tokens.
    """
    if gpus < 1 or batch_size < 1:
        raise ValueError(f'estimate_memory: gpus and batch must be >= 1, got gpus={gpus}, batch={batch_size}')
    mot = model.mot if hasattr(model, 'mot') else model
    if not hasattr(mot, 'joint_layers'):
        raise TypeError(f'estimate_memory: {type(model).__name__} holds no MoTTransformer (`.mot.joint_layers`)')
    kind = strategy_kind(strategy)
    params = unique_parameters(model)
    counts = dict(total=sum(p.numel() for p in params), trainable=sum(p.numel() for p in params if p.requires_grad))
    counts['frozen'] = counts['total'] - counts['trainable']
    states = state_bytes(model, gpus, kind, optimizer_states)
    acts = joint_stack_activations(mot, batch_size, ue_tokens, ae_tokens, kind['compute_dtype'])
    fixed = sum(states.values())
    result_bytes = dict(states)
    extra = None if cam_size is None else ae_input_activations(model, batch_size, cam_size, kind['compute_dtype'])
    result_bytes['activations'] = dict(
        no_checkpointing=acts['no_checkpointing'] + (extra or 0), checkpointing=acts['checkpointing'] + (extra or 0)
    )
    result_bytes['total'] = {k: fixed + v for k, v in result_bytes['activations'].items()}

    result_bytes = {
        k: {kk: int(round(x)) for kk, x in v.items()} if isinstance(v, dict) else int(round(v))
        for k, v in result_bytes.items()
    }

    def gib(v):
        return {k: round(x / GIB, 3) for k, x in v.items()} if isinstance(v, dict) else round(v / GIB, 3)

    return dict(
        gpus=gpus,
        batch_per_gpu=batch_size,
        strategy=kind['kind'],
        zero_stage=kind['zero_stage'],
        compute_dtype=str(kind['compute_dtype'] or 'parameter dtype').replace('torch.', ''),
        tokens=dict(ue=ue_tokens, ae=ae_tokens),
        params=counts,
        bytes=result_bytes,
        gib={k: gib(v) for k, v in result_bytes.items()},
        activation_parts=dict(
            joint_stack=acts['no_checkpointing'],
            joint_stack_checkpointing=acts['checkpointing'],
            per_layer_max=max(acts['per_layer']),
            layer_inputs=acts['layer_inputs'],
            ae_inputs_and_heads=extra,
        ),
    )
