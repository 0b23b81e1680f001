# Copyright (c) mmautomot contributors. All rights reserved.
"""Understanding expert + action expert joined layer by layer (mixture of transformers)."""

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor
from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLTextRMSNorm

from mmautomot.registry import MODELS

from .action_expert_layer import ActionExpertLayer
from .action_expert_padded import PaddedActionExpertLayer  # noqa: F401 (registers the layout)
from .joint_block import JointLayer
from .joint_layers import mot_forward
from .prefix_kv_cache import PrefixKVCache
from .task_mask import ae_rows, build_task_mask
from .ue_spans import released_ue_spans


@MODELS.register_module()
class MoTTransformer(BaseModule):
    """A vision-language understanding expert (UE) and an action expert (AE) sharing every attention.

    Paper: AutoMoT (layer-wise joint attention; asynchronous UE/AE inference through a prefix KV cache).
    The AE has as many layers as the UE. Two layouts (``ae['type']``): :class:`ActionExpertLayer` (default:
    the UE's head geometry at its own width and FFN width) and :class:`PaddedActionExpertLayer` (the released
    AutoMoT: the UE's width, its own narrow heads zero-padded into the UE's head slots).
    All three passes go through :func:`mot_forward` under the mask of :func:`build_task_mask`:

    * :meth:`forward_joint`: UE + AE in one pass (training, synchronous inference);
    * :meth:`ue_refresh`: UE alone, writing a :class:`PrefixKVCache`;
    * :meth:`ae_step`: AE alone, reading the cache (read-only).

    ``joint_layers[i]`` (:class:`JointLayer`) runs depth i of both experts; it is the FSDP unit
    (:func:`mmautomot.models.mot.fsdp.mot_auto_wrap_policy`) and the activation-checkpointing unit
    (``checkpoint_layers``). The UE layers stay in transformers' model and the AE layers in ``ae_layers``; the
    joint layers share them, and the state dict keeps one key per tensor under those owners' names
    (``ue.hf.model.language_model.layers.{i}.*``, ``ae_layers.{i}.*``), read from the joint layers (which
    FSDP gathers) and loaded into them.

    Args:
        ue (dict): config of the UE, a :class:`mmautomot.models.vlm.BaseVLMExpert` (e.g.
            ``Qwen3VLUnderstandingExpert``, ``PaliGemmaUnderstandingExpert``): ``layers``, ``text_rope``,
            ``norm``, ``head_geometry``, ``embed(batch)`` and ``new_cache``.
        ae (dict): the AE layout. Default (no ``type``): :class:`ActionExpertLayer`, own width with the
            UE's head geometry: ``hidden_size``, ``intermediate_size`` (and optionally ``attention_bias``).
            ``type='PaddedActionExpertLayer'``: the released AutoMoT layout (UE width, own narrow heads
            zero-padded into the UE's slots): ``intermediate_size``, ``num_heads``, ``num_kv_heads`` (and
            optionally ``head_dim``, default UE hidden / UE heads). Any registered layer type with a
            ``from_ue_geometry(geometry, **kwargs)`` classmethod works. ``mlp``: a registered FFN config
            replacing the dense SwiGLU of :class:`ActionExpertLayer` (e.g. ``MoEFFN``) in the layers listed by
            ``mlp_layers`` (indices, negative from the end; default all).
        cache_capacity (int): default prefix cache capacity in UE tokens. Defaults to 1024.
        checkpoint_layers (bool): activation checkpointing per joint layer in training (recompute each
            depth in the backward pass; activations kept only at layer boundaries). Defaults to False.
        ue_attention (str): attention inside the UE prefix. ``'causal'`` (default): Qwen3-VL's own.
            ``'released'``: as the released AutoMoT packs it (:func:`released_ue_spans`): image blocks
            bidirectional; the instruction block after the images bidirectional in training mode
            (``self.training``) and causal in eval mode, the released train/inference mismatch its weights
            carry. Set it when running or fine-tuning released weights; new training keeps ``'causal'``.
        init_cfg (dict | None): mmengine init config.
    """

    def __init__(
        self,
        ue: dict,
        ae: dict,
        cache_capacity: int = 1024,
        checkpoint_layers: bool = False,
        ue_attention: str = 'causal',
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(init_cfg=init_cfg)
        if ue_attention not in ('causal', 'released'):
            raise ValueError(f"MoTTransformer: ue_attention must be 'causal' or 'released', got {ue_attention!r}")
        self.ue_attention = ue_attention
        self.ue = MODELS.build(ue)
        g = self.ue.head_geometry
        ae = dict(ae)
        layer_type = ae.pop('type', 'ActionExpertLayer')
        n = g['num_layers']
        if layer_type == 'ActionExpertLayer':
            mlp_layers = {i % n for i in ae.get('mlp_layers', range(n))}
            self.ae_layers = nn.ModuleList(
                [
                    ActionExpertLayer(
                        ae['hidden_size'],
                        ae['intermediate_size'],
                        num_heads=g['num_heads'],
                        num_kv_heads=g['num_kv_heads'],
                        head_dim=g['head_dim'],
                        rms_norm_eps=g['rms_norm_eps'],
                        attention_bias=ae.get('attention_bias', False),
                        mlp=ae.get('mlp') if i in mlp_layers else None,
                    )
                    for i in range(n)
                ]
            )
        else:  # another AE layout, e.g. 'PaddedActionExpertLayer' (the released AutoMoT layout)
            layer_cls = MODELS.get(layer_type)
            if layer_cls is None or not hasattr(layer_cls, 'from_ue_geometry'):
                raise KeyError(
                    f'MoTTransformer: ae type {layer_type!r} is not a registered AE layer with '
                    'from_ue_geometry(geometry, **kwargs)'
                )
            self.ae_layers = nn.ModuleList([layer_cls.from_ue_geometry(g, **ae) for _ in range(n)])
        self.ae_hidden_size = self.ae_layers[0].hidden_size
        self.ae_norm = Qwen3VLTextRMSNorm(self.ae_hidden_size, eps=g['rms_norm_eps'])
        self.cache_capacity = cache_capacity
        # registered last, so parameter names (deduplicated, first path wins) stay the owners' ones
        self.joint_layers = nn.ModuleList(
            [
                JointLayer(u, a, i, with_cp=checkpoint_layers)
                for i, (u, a) in enumerate(zip(self.ue.layers, self.ae_layers))
            ]
        )
        self._shared_prefixes = self._owner_prefixes()
        self._register_state_dict_hook(_joint_state_dict_hook)
        self._register_load_state_dict_pre_hook(_joint_load_pre_hook, with_module=True)
        self.register_load_state_dict_post_hook(_joint_load_post_hook)

    @property
    def checkpoint_layers(self) -> bool:
        return all(jl.with_cp for jl in self.joint_layers)

    @checkpoint_layers.setter
    def checkpoint_layers(self, value: bool) -> None:
        for jl in self.joint_layers:
            jl.with_cp = bool(value)

    def _owner_prefixes(self) -> Dict[str, str]:
        """``{'joint_layers.{i}.ue.': '<path of UE layer i>.', 'joint_layers.{i}.ae.': 'ae_layers.{i}.'}``."""
        path = {
            id(m): name
            for name, m in self.named_modules(remove_duplicate=False)
            if not name.startswith('joint_layers.')
        }
        out = {}
        for i, jl in enumerate(self.joint_layers):
            for attr in ('ue', 'ae'):
                out[f'joint_layers.{i}.{attr}.'] = path[id(getattr(jl, attr))] + '.'
        return out

    def ue_spans(self, ue_batch: Dict[str, Tensor], emb: Optional[Dict[str, Tensor]] = None) -> Optional[Tensor]:
        """(B, L_u) bidirectional span ids of the UE prefix for :func:`build_task_mask` (None if fully causal).

        ``ue_attention='released'``: the released AutoMoT's blocks (:func:`released_ue_spans`). Otherwise the
        expert's own prefix block (``emb['prefix']``, e.g. PaliGemma's prefix-LM image + prompt) as one span.
        """
        if self.ue_attention == 'causal':
            prefix = (emb or {}).get('prefix')
            return None if prefix is None else prefix.long()
        cfg = self.ue.core.config
        return released_ue_spans(
            ue_batch['input_ids'],
            ue_batch['attention_mask'].bool(),
            cfg.vision_start_token_id,
            cfg.vision_end_token_id,
            self.ue.tokenizer.encode('<|im_end|>')[0],
            instruction=self.training,
        )

    def _ae_rope(self, ae_hidden: Tensor, next_position: Tensor) -> Tuple[Tensor, Tensor]:
        pos = next_position.reshape(-1, 1) + torch.arange(ae_hidden.shape[1], device=next_position.device)
        return self.ue.text_rope(ae_hidden, pos)

    def forward_joint(
        self, ue_batch: Dict[str, Tensor], ae_hidden: Tensor, group_sizes: Sequence[int]
    ) -> Tuple[Tensor, Tensor]:
        """Joint pass.

        Args:
            ue_batch (dict): UE inputs (``Qwen3VLUnderstandingExpert.prepare_inputs``).
            ae_hidden (Tensor): (B, L_a, C_a) AE input tokens, groups in order.
            group_sizes (Sequence[int]): AE group sizes (sum = L_a), e.g. (decision, planning).

        Returns:
            tuple[Tensor, Tensor]: final-normed UE (B, L_u, C_u) and AE (B, L_a, C_a) hidden states.
        """
        emb = self.ue.embed(ue_batch)
        mask = build_task_mask(emb['valid'], group_sizes, self.ue_spans(ue_batch, emb))
        ae_rope = self._ae_rope(ae_hidden, emb['next_position'])
        ue_h, ae_h = mot_forward(
            None,
            None,
            emb['hidden'],
            ae_hidden,
            emb['rope'],
            ae_rope,
            mask,
            emb.get('deepstack'),
            emb.get('visual_pos_masks'),
            joint_layers=self.joint_layers,
        )
        return self.ue.norm(ue_h), self.ae_norm(ae_h)

    @torch.no_grad()
    def ue_refresh(
        self, ue_batch: Dict[str, Tensor], cache: Optional[PrefixKVCache] = None, tick: Optional[int] = None
    ) -> PrefixKVCache:
        """Run the UE alone and write its per-layer keys/values into ``cache`` (allocated if None or too
        small for the batch)."""
        bsz, length = ue_batch['input_ids'].shape
        if cache is None or cache.batch_size != bsz or cache.capacity < length:
            cache = self.ue.new_cache(bsz, max(self.cache_capacity, length))
        emb = self.ue.embed(ue_batch)
        cache.begin_write(emb['valid'], emb['next_position'], tick)
        mot_forward(
            None,
            None,
            emb['hidden'],
            None,
            emb['rope'],
            None,
            build_task_mask(emb['valid'], (), self.ue_spans(ue_batch, emb)),
            emb.get('deepstack'),
            emb.get('visual_pos_masks'),
            cache,
            'write',
            joint_layers=self.joint_layers,
        )
        return cache

    def ae_step(self, ae_hidden: Tensor, cache: PrefixKVCache, group_sizes: Sequence[int]) -> Tensor:
        """AE alone, reading the UE keys/values from ``cache`` (never modified).

        Returns:
            Tensor: (B, L_a, C_a) final-normed AE hidden states.
        """
        if ae_hidden.shape[0] != cache.batch_size:
            raise ValueError(f'MoTTransformer.ae_step: AE batch {ae_hidden.shape[0]} != cache batch {cache.batch_size}')
        mask = ae_rows(build_task_mask(cache.valid(), group_sizes), cache.length)
        ae_rope = self._ae_rope(ae_hidden, cache.next_position)
        _, ae_h = mot_forward(
            None,
            None,
            None,
            ae_hidden,
            None,
            ae_rope,
            mask,
            cache=cache,
            cache_mode='read',
            joint_layers=self.joint_layers,
        )
        return self.ae_norm(ae_h)

    def count_params(self) -> Dict[str, int]:
        """``ue_params`` (the whole Qwen3-VL incl. vision, tied embeddings once), ``ae_params`` (AE layers
        and final norm)."""
        ue = sum(p.numel() for p in self.ue.parameters())
        ae = sum(p.numel() for p in self.ae_layers.parameters()) + sum(p.numel() for p in self.ae_norm.parameters())
        return dict(ue_params=ue, ae_params=ae)


# ---------------------------------------------------------------------- one key per tensor in the state dict
def _joint_state_dict_hook(module: MoTTransformer, state_dict: dict, prefix: str, local_metadata) -> None:
    """Keep each shared layer once, under its owner's name, with the tensor read through the joint layer.

    Under FSDP only the joint layer (the unit) gathers its full parameters while its state dict is taken; the
    owners' paths then hold flat shards, so their entries are dropped and the joint entries renamed.
    """
    for joint, owner in module._shared_prefixes.items():
        for key in [k for k in state_dict if k.startswith(prefix + owner)]:
            del state_dict[key]
        for key in [k for k in state_dict if k.startswith(prefix + joint)]:
            state_dict[prefix + owner + key[len(prefix + joint) :]] = state_dict.pop(key)


def _joint_load_pre_hook(module: MoTTransformer, state_dict: dict, prefix: str, *args) -> None:
    """Route the owners' keys to the joint layers (the path FSDP gathers); the owners' paths load nothing."""
    module._load_prefix = prefix
    for joint, owner in module._shared_prefixes.items():
        for key in [k for k in state_dict if k.startswith(prefix + owner)]:
            state_dict[prefix + joint + key[len(prefix + owner) :]] = state_dict.pop(key)


def _unwrapped(name: str) -> str:
    """A parameter name without FSDP / checkpoint wrapper parts (FSDP's hooks clean missing keys likewise)."""
    for part in ('_fsdp_wrapped_module.', '_checkpoint_wrapped_module.'):
        name = name.replace(part, '')
    return name


def _joint_load_post_hook(module: MoTTransformer, incompatible_keys) -> None:
    """Report missing shared tensors once, under the owners' names."""
    prefix = _unwrapped(getattr(module, '_load_prefix', ''))
    missing = incompatible_keys.missing_keys
    owners = tuple(prefix + o for o in module._shared_prefixes.values())
    kept = []
    for key in missing:
        key = _unwrapped(key)
        if key.startswith(owners):
            continue
        for joint, owner in module._shared_prefixes.items():
            if key.startswith(prefix + joint):
                key = prefix + owner + key[len(prefix + joint) :]
                break
        kept.append(key)
    missing[:] = kept
