# Copyright (c) mmautomot contributors. All rights reserved.
from .samoe_vla import SAMoEVLA
from .transforms import TokenizeInstruction
from .world_language import (
    COMMAND_INSTRUCTIONS,
    WorldLanguageTokens,
    command_instruction,
    instruction_text,
    instructions_of,
)

__all__ = [
    'SAMoEVLA',
    'TokenizeInstruction',
    'WorldLanguageTokens',
    'command_instruction',
    'instruction_text',
    'instructions_of',
    'COMMAND_INSTRUCTIONS',
]
