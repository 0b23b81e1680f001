# Copyright (c) mmautomot contributors. All rights reserved.
from .samoe_vla import SAMoEVLA
from .world_language import COMMAND_INSTRUCTIONS, WorldLanguageTokens, command_instruction, instructions_of

__all__ = ['SAMoEVLA', 'WorldLanguageTokens', 'command_instruction', 'instructions_of', 'COMMAND_INSTRUCTIONS']
