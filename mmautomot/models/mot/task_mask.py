# Copyright (c) mmautomot contributors. All rights reserved.
"""The task mask of the mixture-of-transformers joint attention (the ONLY place it is built).

AutoMoT (Huang et al., "AutoMoT: A Unified Vision-Language-Action Model with Asynchronous
Mixture-of-Transformers for End-to-End Autonomous Driving") joins an understanding expert (UE) and an
action expert (AE) in one attention call per layer under a block mask:

* understanding (UE) tokens are causal among themselves and never see padding or any AE token, so the UE
  keys/values are a pure function of the UE inputs (what makes the prefix KV cache reusable); a UE whose
  family reads parts of its prefix bidirectionally (PaliGemma's prefix-LM: image + prompt tokens; the
  released AutoMoT's image blocks) marks them with ``ue_spans`` ids and tokens of one span see each other
  both ways;
* the AE tokens come in ordered groups (AutoMoT: ``decision`` then ``planning``); a group sees every valid
  UE token, every earlier group and itself bidirectionally, never a later group.

SAMoE-VLA's Conditional Cross-Modal Causal Attention (CMCA) is a layout of the same builder
(:func:`build_cmca_mask`): the world-language prefix (BEV tokens, soft prompts, instruction tokens) is one
bidirectional block, then the ego-state / action-history group, then the noisy-action group.

The mask is a boolean tensor, ``True`` = may attend, in the layout torch's
``scaled_dot_product_attention`` takes: ``(B, 1, L_q, L_k)``.
"""

from typing import Optional, Sequence

import torch
from torch import Tensor


def build_task_mask(ue_valid: Tensor, ae_group_sizes: Sequence[int], ue_spans: Optional[Tensor] = None) -> Tensor:
    """Build the joint (UE + AE) attention mask.

    Args:
        ue_valid (Tensor): (B, L_u) bool or 0/1, 1 where the UE token is real (not padding).
        ae_group_sizes (Sequence[int]): sizes of the AE token groups in sequence order, e.g.
            ``(n_decision, n_planning)``. AE tokens follow the UE tokens in the sequence.
        ue_spans (Tensor | None): (B, L_u) long span ids inside the UE prefix; UE tokens sharing a positive id
            also attend to each other bidirectionally (e.g. PaliGemma's image + prompt prefix as one
            span, ``prefix.long()``; the released AutoMoT's image blocks,
            :func:`mmautomot.models.mot.ue_spans.released_ue_spans`); 0 = causal. The UE still never sees AE
            tokens. Defaults to None (UE fully causal).

    Returns:
        Tensor: (B, 1, L_u + L_a, L_u + L_a) bool, ``L_a = sum(ae_group_sizes)``.
    """
    if ue_valid.dim() != 2:
        raise ValueError(f'build_task_mask: ue_valid must be (B, L_u), got shape {tuple(ue_valid.shape)}')
    sizes = [int(s) for s in ae_group_sizes]
    if any(s < 0 for s in sizes):
        raise ValueError(f'build_task_mask: negative AE group size in {sizes}')
    ue_valid = ue_valid.bool()
    bsz, n_ue = ue_valid.shape
    n_ae = sum(sizes)
    total = n_ue + n_ae
    device = ue_valid.device
    # Group id per position: 0 = UE, 1.. = AE groups in order.
    group = torch.cat(
        [torch.zeros(n_ue, dtype=torch.long, device=device)]
        + [torch.full((s,), g + 1, dtype=torch.long, device=device) for g, s in enumerate(sizes)]
    )
    q_group, k_group = group[:, None], group[None, :]
    idx = torch.arange(total, device=device)
    causal = idx[None, :] <= idx[:, None]
    is_ue_q, is_ue_k = q_group == 0, k_group == 0
    # UE rows: causal over UE keys only.  AE rows: every UE key plus keys of groups <= own group.
    allowed = torch.where(is_ue_q, is_ue_k & causal, is_ue_k | (k_group <= q_group))
    key_valid = torch.cat([ue_valid, ue_valid.new_ones(bsz, n_ae)], dim=1)  # (B, L)
    if ue_spans is not None:
        if ue_spans.shape != ue_valid.shape:
            raise ValueError(f'build_task_mask: ue_spans {tuple(ue_spans.shape)} != ue_valid {tuple(ue_valid.shape)}')
        same = (ue_spans[:, :, None] == ue_spans[:, None, :]) & (ue_spans[:, :, None] > 0)  # (B, L_u, L_u)
        allowed = allowed[None] | torch.nn.functional.pad(same, (0, n_ae, 0, n_ae))
    else:
        allowed = allowed[None]
    mask = allowed & key_valid[:, None, :]
    return mask[:, None]


def build_cmca_mask(world_valid: Tensor, num_state: int, num_action: int) -> Tensor:
    """SAMoE-VLA's Conditional Cross-Modal Causal Attention mask (a group layout of :func:`build_task_mask`).

    Paper: SAMoE-VLA (world state, linguistic intent and action history in one causal order). Groups in
    sequence order, each bidirectional inside itself and seeing every earlier group, never a later one:

    1. world-language (the World-Language expert's tokens: BEV tokens, soft prompts, instruction tokens;
       padding never attended),
    2. ego-state / action-history tokens (Planning expert),
    3. noisy action tokens (Planning expert).

    Args:
        world_valid (Tensor): (B, L_w) bool, 1 where the world-language token is real.
        num_state (int): ego-state / action-history tokens.
        num_action (int): noisy action tokens.

    Returns:
        Tensor: (B, 1, L, L) bool, ``L = L_w + num_state + num_action``.
    """
    return build_task_mask(world_valid, (num_state, num_action), ue_spans=world_valid.long())


def ae_rows(mask: Tensor, n_ue: int) -> Tensor:
    """The AE query rows of a joint mask, ``(B, 1, L_a, L_u + L_a)`` (used by AE-only passes)."""
    return mask[:, :, n_ue:, :]
