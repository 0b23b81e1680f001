# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch

from mmautomot.models.encoders import bev_cell_of, lidar_to_bev_histogram


def test_counts_cells_and_height_split():
    pts = torch.tensor(
        [
            [10.0, 0.0, 1.0, 0.3],  # ahead, above split
            [9.9, -0.1, 1.5, 0.3],  # same cell (x in (9.75, 10], y in (-0.25, 0]), above
            [9.9, -0.1, 0.0, 0.3],  # same cell, below
            [0.0, 5.0, 2.0, 0.3],  # to the left, above
            [40.0, 0.0, 1.0, 0.3],  # outside x range
            [0.0, 0.0, 20.0, 0.3],  # above z range
        ]
    )
    hist = lidar_to_bev_histogram([pts], max_count=5)
    assert hist.shape == (1, 2, 256, 256)
    assert bev_cell_of(10.0, 0.0) == (88, 128)
    assert hist[0, 1, 88, 128].item() == pytest.approx(2 / 5)
    assert hist[0, 0, 88, 128].item() == pytest.approx(1 / 5)
    assert hist[0, 1, 128, 108].item() == pytest.approx(1 / 5)  # y = +5 m -> left of centre column
    assert hist.sum().item() == pytest.approx(4 / 5)


def test_orientation_ahead_is_up_left_is_left():
    ahead = lidar_to_bev_histogram([torch.tensor([[10.0, 0.0, 1.0]])], use_ground_plane=False)
    rows, cols = torch.nonzero(ahead[0, 0], as_tuple=True)
    assert ahead.shape == (1, 1, 256, 256)
    assert rows.item() < 128 and cols.item() == 128  # ahead of the ego = above the centre row
    left = lidar_to_bev_histogram([torch.tensor([[0.0, 10.0, 1.0]])], use_ground_plane=False)
    rows, cols = torch.nonzero(left[0, 0], as_tuple=True)
    assert rows.item() == 128 and cols.item() < 128  # left of the ego = left of the centre column


def test_clipping_small_grid_batch_and_empty():
    many = torch.tensor([[0.2, 0.2, 1.0]]).repeat(9, 1)
    hist = lidar_to_bev_histogram(
        [many, torch.zeros(0, 4)], x_range=(-1, 1), y_range=(-2, 2), resolution=0.5, max_count=4, use_ground_plane=False
    )
    assert hist.shape == (2, 1, 4, 8)
    assert hist[0, 0, 1, 3].item() == 1.0  # 9 points clipped at 4 -> 1.0
    assert hist[0].sum().item() == 1.0
    assert hist[1].abs().sum().item() == 0.0
    below_only = lidar_to_bev_histogram(
        [torch.tensor([[0.2, 0.2, 0.0]])], x_range=(-1, 1), y_range=(-1, 1), resolution=0.5, use_ground_plane=False
    )
    assert below_only.sum().item() == 0.0  # one-channel mode keeps points above the split only


def test_nan_error_names_batch_index():
    good = torch.zeros(3, 4)
    bad = torch.tensor([[1.0, float('nan'), 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    with pytest.raises(ValueError, match=r'batch index 1 contain NaN coordinates in 1 of 2'):
        lidar_to_bev_histogram([good, bad])
    with pytest.raises(ValueError, match='batch index 0 must be'):
        lidar_to_bev_histogram([torch.zeros(3, 2)])
