# Copyright (c) mmautomot contributors. All rights reserved.
"""Driver's UE history spacing (``hist_stride``): the frames the dataset would pair with the current one."""

import types

import pytest
import torch

from mmautomot.apis import Driver


class _Model(torch.nn.Module):
    def __init__(self, num_frames=3, cfg=None):
        super().__init__()
        self.mot = types.SimpleNamespace(ue=types.SimpleNamespace(num_frames=num_frames))
        if cfg is not None:
            self.cfg = cfg


def _frame(tick):
    return torch.full((3, 2, 2), tick, dtype=torch.uint8)


def _hist(driver, tick, reset=False):
    out = driver._img_hist(dict(tick=tick, reset=reset), _frame(tick))
    return out[:, 0, 0, 0].tolist()


def test_history_frames_are_stride_ticks_apart_and_clamp_to_the_route_start():
    driver = Driver(_Model(num_frames=3), hist_stride=10)
    # the dataset pairs frame i with i - 10 and i - 20 ticks (0.5 s at 20 Hz), clamped to the first frame
    got = {t: _hist(driver, t) for t in range(0, 45)}
    assert got[0] == [0, 0, 0]
    assert got[9] == [0, 0, 9]
    assert got[10] == [0, 0, 10]
    assert got[25] == [5, 15, 25]
    assert got[44] == [24, 34, 44]
    assert len(driver.history) <= 2 * 10 + 1  # bounded memory


def test_history_with_sparse_calls_takes_the_newest_frame_at_or_before_each_slot():
    driver = Driver(_Model(num_frames=2), hist_stride=10)
    assert [_hist(driver, t) for t in (0, 4, 8, 12, 16, 20)][-3:] == [[0, 12], [4, 16], [8, 20]]
    driver.reset()
    assert _hist(driver, 0) == [0, 0]  # a new route forgets the old frames


def test_history_stride_default_and_validation():
    assert Driver(_Model()).hist_stride == 1
    assert Driver(_Model(cfg=dict(ue_hist_stride=10))).hist_stride == 10
    assert Driver(_Model(cfg=dict(ue_hist_stride=10)), hist_stride=4).hist_stride == 4
    driver = Driver(_Model(num_frames=2))
    assert [_hist(driver, t) for t in range(3)] == [[0, 0], [0, 1], [1, 2]]  # stride 1: the previous call
    with pytest.raises(ValueError, match='hist_stride must be a positive int'):
        Driver(_Model(), hist_stride=0)
