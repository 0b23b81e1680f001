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
from .joint_layers import ae_position_ids, mot_forward
from .prefix_kv_cache import PrefixKVCache
from .task_mask import ae_rows, build_task_mask


@MODELS.register_module()
class MoTTransformer(BaseModule):
    """A vision-language understanding expert (UE) and an action expert (AE) sharing every attention.

    Paper: AutoMoT (layer-wise joint attention; asynchronous UE/AE inference through a prefix KV cache).
    The AE has as many layers as the UE and the UE's head geometry; its width and FFN width are its own.
    All three passes go through :func:`mot_forward` under the mask of :func:`build_task_mask`:

    * :meth:`forward_joint`: UE + AE in one pass (training, synchronous inference);
    * :meth:`ue_refresh`: UE alone, writing a :class:`PrefixKVCache`;
    * :meth:`ae_step`: AE alone, reading the cache (read-only).

    Args:
        ue (dict): config of the UE (e.g. ``Qwen3VLUnderstandingExpert``); it must expose ``layers``,
            ``rotary_emb``, ``norm``, ``head_geometry``, ``embed(batch)`` and ``new_cache``.
        ae (dict): AE width: ``hidden_size``, ``intermediate_size`` (and optionally ``attention_bias``;
            ``mlp``, a registered FFN config replacing the dense SwiGLU (e.g. ``MoEFFN``), in the layers
            listed by ``mlp_layers`` (indices, negative from the end; default all)).
        cache_capacity (int): default prefix cache capacity in UE tokens. Defaults to 1024.
        init_cfg (dict | None): mmengine init config.
    """

    def __init__(self, ue: dict, ae: dict, cache_capacity: int = 1024, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.ue = MODELS.build(ue)
        g = self.ue.head_geometry
        ae = dict(ae)
        self.ae_hidden_size = ae['hidden_size']
        n = g['num_layers']
        mlp_layers = {i % n for i in ae.get('mlp_layers', range(n))}
        self.ae_layers = nn.ModuleList([
            ActionExpertLayer(ae['hidden_size'], ae['intermediate_size'], num_heads=g['num_heads'],
                              num_kv_heads=g['num_kv_heads'], head_dim=g['head_dim'],
                              rms_norm_eps=g['rms_norm_eps'], attention_bias=ae.get('attention_bias', False),
                              mlp=ae.get('mlp') if i in mlp_layers else None)
            for i in range(n)
        ])
        self.ae_norm = Qwen3VLTextRMSNorm(ae['hidden_size'], eps=g['rms_norm_eps'])
        self.cache_capacity = cache_capacity

    def _ae_rope(self, ae_hidden: Tensor, next_position: Tensor) -> Tuple[Tensor, Tensor]:
        return self.ue.rotary_emb(ae_hidden, ae_position_ids(next_position, ae_hidden.shape[1]))

    def forward_joint(self, ue_batch: Dict[str, Tensor], ae_hidden: Tensor,
                      group_sizes: Sequence[int]) -> Tuple[Tensor, Tensor]:
        """Joint pass.

        Args:
            ue_batch (dict): UE inputs (``Qwen3VLUnderstandingExpert.prepare_inputs``).
            ae_hidden (Tensor): (B, L_a, C_a) AE input tokens, groups in order.
            group_sizes (Sequence[int]): AE group sizes (sum = L_a), e.g. (decision, planning).

        Returns:
            tuple[Tensor, Tensor]: final-normed UE (B, L_u, C_u) and AE (B, L_a, C_a) hidden states.
        """
        emb = self.ue.embed(ue_batch)
        mask = build_task_mask(emb['valid'], group_sizes)
        ae_rope = self._ae_rope(ae_hidden, emb['next_position'])
        ue_h, ae_h = mot_forward(self.ue.layers, self.ae_layers, emb['hidden'], ae_hidden, emb['rope'], ae_rope,
                                 mask, emb['deepstack'], emb['visual_pos_masks'])
        return self.ue.norm(ue_h), self.ae_norm(ae_h)

    @torch.no_grad()
    def ue_refresh(self, ue_batch: Dict[str, Tensor], cache: Optional[PrefixKVCache] = None,
                   tick: Optional[int] = None) -> PrefixKVCache:
        """Run the UE alone and write its per-layer keys/values into ``cache`` (allocated if None or too
        small for the batch)."""
        bsz, length = ue_batch['input_ids'].shape
        if cache is None or cache.batch_size != bsz or cache.capacity < length:
            cache = self.ue.new_cache(bsz, max(self.cache_capacity, length))
        self.ue(ue_batch, cache=cache, tick=tick)
        return cache

    def ae_step(self, ae_hidden: Tensor, cache: PrefixKVCache, group_sizes: Sequence[int]) -> Tensor:
        """AE alone, reading the UE keys/values from ``cache`` (never modified).

        Returns:
            Tensor: (B, L_a, C_a) final-normed AE hidden states.
        """
        if ae_hidden.shape[0] != cache.batch_size:
            raise ValueError(f'MoTTransformer.ae_step: AE batch {ae_hidden.shape[0]} != cache batch '
                             f'{cache.batch_size}')
        mask = ae_rows(build_task_mask(cache.valid(), group_sizes), cache.length)
        ae_rope = self._ae_rope(ae_hidden, cache.next_position)
        _, ae_h = mot_forward(None, self.ae_layers, None, ae_hidden, None, ae_rope, mask, cache=cache,
                              cache_mode='read')
        return self.ae_norm(ae_h)

    def count_params(self) -> Dict[str, int]:
        """``ue_params`` (the whole Qwen3-VL incl. vision, tied embeddings once), ``ae_params`` (AE layers
        and final norm)."""
        ue = sum(p.numel() for p in self.ue.parameters())
        ae = sum(p.numel() for p in self.ae_layers.parameters()) + sum(p.numel() for p in self.ae_norm.parameters())
        return dict(ue_params=ue, ae_params=ae)
