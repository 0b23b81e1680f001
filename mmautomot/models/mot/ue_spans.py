# Copyright (c) mmautomot contributors. All rights reserved.
"""Bidirectional spans inside the understanding-expert prefix (for :func:`build_task_mask`).

The released AutoMoT packs its UE prefix in blocks with an attention mode each (Bagel style): every image
block (``<|vision_start|>``, its patches, ``<|vision_end|>``) is ``full`` (bidirectional inside the block),
text blocks are ``causal``. The instruction block that follows the images (up to and including its
``<|im_end|>``) is ``full`` in the released *training* data and ``causal`` in the released *inference* code: a
train/inference mismatch its weights were trained with (reproduced by ``instruction=True`` in training).
"""

from typing import Optional

import torch
from torch import Tensor


def released_ue_spans(
    input_ids: Tensor,
    valid: Tensor,
    vision_start_id: int,
    vision_end_id: int,
    end_id: Optional[int] = None,
    instruction: bool = False,
) -> Tensor:
    """Span ids of the released AutoMoT UE attention.

    Args:
        input_ids (Tensor): (B, L_u) UE token ids.
        valid (Tensor): (B, L_u) bool, real (non-padding) tokens.
        vision_start_id / vision_end_id (int): ids delimiting each image block (both inside the block).
        end_id (int | None): id closing the instruction block (``<|im_end|>``); needed if ``instruction``.
        instruction (bool): mark the text after the last image, up to and including the first ``end_id``,
            as one bidirectional span (the released training data). Defaults to False.

    Returns:
        Tensor: (B, L_u) long; 0 = causal token, tokens sharing a positive id attend to each other both ways.
    """
    valid = valid.bool()
    is_start, is_end = input_ids == vision_start_id, input_ids == vision_end_id
    n_start = is_start.long().cumsum(1)
    n_end_before = is_end.long().cumsum(1) - is_end.long()
    spans = torch.where((n_start > n_end_before) & valid, n_start, torch.zeros_like(n_start))
    if instruction:
        if end_id is None:
            raise ValueError('released_ue_spans: instruction=True needs end_id (the <|im_end|> id)')
        pos = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
        last_end = torch.where(is_end, pos, torch.full_like(pos, -1)).amax(1, keepdim=True)
        after = (pos > last_end) & (last_end >= 0) & valid
        closes = (input_ids == end_id) & after
        instr = after & (closes.long().cumsum(1) - closes.long() == 0)
        spans = torch.where(instr, torch.full_like(spans, input_ids.shape[1] + 1), spans)
    return spans
