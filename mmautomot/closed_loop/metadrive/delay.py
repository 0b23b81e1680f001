# Copyright (c) mmautomot contributors. All rights reserved.
"""Closed-loop latency: hold each action back by its compute time before it reaches the simulator.

As in Bench2Drive-Robust's latency setting: an action computed from the observation of tick ``t`` that took
``c`` seconds becomes effective at tick ``t + ceil(c / dt)`` (a FIFO of actions at the control rate); until
then the simulator keeps applying the latest action that is already effective (full brake before the
first one). Actions leave in the order they were computed (one compute stream): a fast action waits
behind a slower one queued before it. ``delay_ticks`` fixes the delay instead of measuring it.
"""

import math
from collections import deque
from typing import Optional, Sequence

BRAKE = (0.0, -1.0)  # MetaDrive [steer, throttle - brake]


class ActionDelay:
    """FIFO of actions at the control rate.

    Args:
        dt (float): seconds per control tick.
        delay_ticks (int, optional): a fixed delay in ticks; None = measured (``compute_s`` per action).
    """

    def __init__(self, dt: float, delay_ticks: Optional[int] = None):
        self.dt = float(dt)
        self.delay_ticks = None if delay_ticks is None else int(delay_ticks)
        if self.delay_ticks is not None and self.delay_ticks < 0:
            raise ValueError(f'delay_ticks must be >= 0, got {delay_ticks}')
        self.queue = deque()
        self.current = list(BRAKE)

    def ticks_for(self, compute_s: float) -> int:
        if self.delay_ticks is not None:
            return self.delay_ticks
        return max(0, int(math.ceil(float(compute_s) / self.dt - 1e-9)))

    def push(self, tick: int, action: Sequence[float], compute_s: float = 0.0) -> list:
        """Queue ``action`` computed at ``tick``; return the action the simulator applies at ``tick``."""
        self.queue.append((tick + self.ticks_for(compute_s), list(action)))
        while self.queue and self.queue[0][0] <= tick:
            self.current = self.queue.popleft()[1]
        return list(self.current)
