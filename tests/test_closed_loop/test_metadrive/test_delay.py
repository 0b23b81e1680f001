# Copyright (c) mmautomot contributors. All rights reserved.
"""ActionDelay: actions reach the simulator after their compute time, in order, at the control rate."""

import pytest

from mmautomot.closed_loop.metadrive.delay import BRAKE, ActionDelay


def test_fixed_delay_is_a_fifo():
    d = ActionDelay(0.05, delay_ticks=2)
    applied = [d.push(t, [0.0, float(t)]) for t in range(5)]
    assert applied == [list(BRAKE), list(BRAKE), [0.0, 0.0], [0.0, 1.0], [0.0, 2.0]]


def test_measured_delay_rounds_up_to_ticks():
    d = ActionDelay(0.05)
    assert d.ticks_for(0.0) == 0 and d.ticks_for(0.05) == 1 and d.ticks_for(0.051) == 2
    assert d.push(0, [0.1, 0.5], compute_s=0.01) == list(BRAKE)  # ready at tick 1
    assert d.push(1, [0.2, 0.5], compute_s=0.12) == [0.1, 0.5]  # ready at tick 4
    # a fast action never overtakes a slow one queued before it (one compute stream, FIFO order)
    assert d.push(2, [0.3, 0.5], compute_s=0.0) == [0.1, 0.5]
    assert d.push(4, [0.4, 0.5], compute_s=0.2) == [0.3, 0.5]  # ticks 1 and 2 both released at 4
    assert [d.push(t, [0.0, 0.0], 0.2) for t in (7, 8)] == [[0.3, 0.5], [0.4, 0.5]]


def test_no_delay_applies_at_once_and_negative_is_refused():
    d = ActionDelay(0.05, delay_ticks=0)
    assert d.push(0, [0.3, 0.2]) == [0.3, 0.2]
    with pytest.raises(ValueError, match='delay_ticks must be >= 0'):
        ActionDelay(0.05, delay_ticks=-1)
