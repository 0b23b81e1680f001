# Copyright (c) mmautomot contributors. All rights reserved.
"""World-language tokens of SAMoE-VLA: BEV tokens, soft prompts and instruction tokens for a VLM's layers."""

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmautomot.structures.commands import COMMANDS

#: LangAuto-style sentences used when a sample carries no free-text instruction (our fallback wording)
COMMAND_INSTRUCTIONS = {
    'turn_left': 'Turn left at the next intersection.',
    'turn_right': 'Turn right at the next intersection.',
    'go_straight': 'Go straight ahead.',
    'lane_follow': 'Follow the current lane.',
    'change_lane_left': 'Change to the left lane.',
    'change_lane_right': 'Change to the right lane.',
}


def command_instruction(command: int) -> str:
    """The fallback instruction sentence of a navigation command index (see ``mmautomot.structures.commands``)."""
    c = int(command)
    if not 0 <= c < len(COMMANDS):
        raise ValueError(f'command_instruction: command index {c} outside 0..{len(COMMANDS) - 1}')
    return COMMAND_INSTRUCTIONS[COMMANDS[c]]


def instruction_text(command: int, instruction: Optional[str] = None, where: str = 'sample') -> str:
    """One sample's instruction: its free-text ``instruction`` (LangAuto-style) if given and non-empty, else the
    sentence of its navigation command (``where`` names the sample in errors)."""
    if instruction is not None and not isinstance(instruction, str):
        raise TypeError(f'SAMoE: {where} instruction must be a str, got {type(instruction).__name__}')
    return instruction.strip() if instruction and instruction.strip() else command_instruction(command)


def instructions_of(commands: Tensor, data_samples: Optional[Sequence] = None) -> List[str]:
    """Per sample: :func:`instruction_text` of its command and metainfo ``instruction``."""
    cmds = commands.reshape(-1).tolist()
    texts = []
    for i, c in enumerate(cmds):
        text = None
        if data_samples is not None and 'instruction' in data_samples[i]:
            text = data_samples[i].instruction
        texts.append(instruction_text(c, text, f'data sample {i}'))
    return texts


def vlm_text_rope(vlm, hidden: Tensor, positions: Tensor) -> Tuple[Tensor, Tensor]:
    """Rotary (cos, sin) of 1-D positions (B, L) for a VLM expert: its ``text_rope`` when the family provides
    one, else Qwen3-VL's M-RoPE with the same id on its three axes (text tokens)."""
    if hasattr(vlm, 'text_rope'):
        return vlm.text_rope(hidden, positions)
    return vlm.rotary_emb(hidden, positions[None].expand(3, -1, -1))


class WorldLanguageTokens(nn.Module):
    """Builds the World-Language expert's input sequence ``[BEV | soft prompts | instruction]`` (right padded).

    Paper: SAMoE-VLA (the "world embeddings": BEV tokens and soft prompts, with the tokenised human
    instruction). Our reading: BEV tokens are a linear projection of the BEV encoder's tokens into the VLM
    width plus a learned per-cell embedding; ``num_soft_prompts`` learned vectors follow; the instruction is
    embedded by the VLM's own token embedding (truncated to ``max_instruction_tokens``).

    Tensor contract: ``forward(vlm, bev (B, N_bev, C_bev), texts) -> (hidden (B, L_w, C_w), valid (B, L_w))``;
    instead of ``texts`` the already tokenised instructions ``tokens=(input_ids, attention_mask)`` (B, L) long,
    right padded (the pipeline's :class:`TokenizeInstruction`), truncated here as the texts are.

    Args:
        bev_channels (int): C_bev.
        num_bev_tokens (int): N_bev.
        hidden_size (int): the VLM width C_w.
        num_soft_prompts (int): Defaults to 8.
        max_instruction_tokens (int): Defaults to 48.
    """

    def __init__(
        self,
        bev_channels: int,
        num_bev_tokens: int,
        hidden_size: int,
        num_soft_prompts: int = 8,
        max_instruction_tokens: int = 48,
    ):
        super().__init__()
        self.bev_proj = nn.Linear(bev_channels, hidden_size)
        self.bev_pos = nn.Parameter(torch.randn(num_bev_tokens, hidden_size) * 0.02)
        self.soft_prompts = nn.Parameter(torch.randn(num_soft_prompts, hidden_size) * 0.02)
        self.num_bev_tokens, self.max_instruction_tokens = num_bev_tokens, max_instruction_tokens

    def forward(
        self, vlm, bev: Tensor, texts: Optional[Sequence[str]] = None, tokens: Optional[Tuple[Tensor, Tensor]] = None
    ) -> Tuple[Tensor, Tensor]:
        if bev.shape[1] != self.num_bev_tokens:
            raise ValueError(f'WorldLanguageTokens: {bev.shape[1]} BEV tokens, built for {self.num_bev_tokens}')
        embed = vlm.core.get_input_embeddings()
        bsz, dev = bev.shape[0], bev.device
        pad = getattr(vlm.tokenizer, 'pad_token_id', 0) or 0
        if tokens is not None:
            tok, txt_valid = (t[:, : self.max_instruction_tokens].to(dev) for t in tokens)
            txt_valid = txt_valid.bool()
            if tok.shape[0] != bsz or not txt_valid[:, 0].all():
                raise ValueError(
                    f'WorldLanguageTokens: {tok.shape[0]} tokenised instructions for {bsz} samples, or an empty one'
                )
            tok = tok.masked_fill(~txt_valid, pad)
        else:
            ids = [vlm.tokenizer.encode(t)[: self.max_instruction_tokens] for t in texts]
            if any(len(s) == 0 for s in ids):
                raise ValueError('WorldLanguageTokens: an instruction encodes to no tokens')
            n_txt = max(len(s) for s in ids)
            tok = torch.full((bsz, n_txt), pad, dtype=torch.long, device=dev)
            txt_valid = torch.zeros(bsz, n_txt, dtype=torch.bool, device=dev)
            for i, s in enumerate(ids):
                tok[i, : len(s)] = torch.tensor(s, device=dev)
                txt_valid[i, : len(s)] = True
        dtype = embed.weight.dtype
        world = self.bev_proj(bev.to(self.bev_proj.weight.dtype)) + self.bev_pos
        soft = self.soft_prompts[None].expand(bsz, -1, -1)
        hidden = torch.cat([world.to(dtype), soft.to(dtype), embed(tok)], dim=1)
        n_fixed = world.shape[1] + soft.shape[1]
        valid = torch.cat([txt_valid.new_ones(bsz, n_fixed), txt_valid], dim=1)
        return hidden, valid
