# Copyright (c) mmautomot contributors. All rights reserved.
"""The understanding expert's user text of one sample: the one place the dataset pipeline
(:class:`~mmautomot.datasets.transforms.ProcessVLMInputs`) and the models' fallback path build it."""

from typing import Optional

from .commands import COMMANDS


def driving_prompt(command: int, speed: float) -> str:
    """The default UE user text: navigation command and ego speed (m/s).

    Example: ``driving_prompt(2, 5.23)`` -> ``'Navigation command: go straight. Current speed: 5.2 m/s.'``
    (an index outside :data:`~mmautomot.structures.COMMANDS` reads 'unknown').
    """
    name = COMMANDS[int(command)].replace('_', ' ') if 0 <= int(command) < len(COMMANDS) else 'unknown'
    return f'Navigation command: {name}. Current speed: {float(speed):.1f} m/s.'


def ue_user_text(prompt: Optional[str], command: int, speed: float) -> str:
    """The UE user text of one sample: its ``prompt`` (e.g. built by ``BuildPlanningTargets`` from the config's
    template, or a closed-loop observation's) when given and non-empty, else :func:`driving_prompt`.

    Args:
        prompt (str | None): the sample's prompt.
        command (int): navigation command index.
        speed (float): ego speed, m/s (``ego_status[0]``).
    """
    return prompt if isinstance(prompt, str) and prompt else driving_prompt(command, speed)
