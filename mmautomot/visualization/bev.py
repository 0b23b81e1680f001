# Copyright (c) mmautomot contributors. All rights reserved.
"""Bird's-eye-view plot of one planning sample: agents, GT / predicted trajectories, meta-actions."""

from typing import Any, Optional, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Polygon, Rectangle

from mmautomot.structures import COMMANDS, NUSCENES_CLASSES, VEHICLE_CLASSES, meta_action_to_text
from mmautomot.structures.geometry import box_corners_bev
from mmautomot.utils.misc import to_numpy

#: trajectory field -> (label, matplotlib colour)
TRAJ_STYLES = {
    'gt_ego_fut_trajs': ('GT', 'tab:green'),
    'pred_ego_fut_trajs': ('pred', 'tab:red'),
    'pred_ego_path': ('pred path', 'tab:orange'),
}
EGO_LENGTH, EGO_WIDTH = 4.084, 1.85


def sample_get(sample: Any, key: str, default=None):
    """A data field or metainfo entry of a ``DrivingDataSample`` or of its ``to_dict()`` form."""
    if isinstance(sample, dict):
        if key in sample:
            return sample[key]
        return sample.get('metainfo', {}).get(key, default)
    value = sample.get(key, None)
    return default if value is None else value


def _agent_color(label: int) -> str:
    if 0 <= label < len(NUSCENES_CLASSES):
        name = NUSCENES_CLASSES[label]
        if name in VEHICLE_CLASSES:
            return 'tab:blue'
        if name == 'pedestrian':
            return 'tab:purple'
    return 'tab:gray'


def meta_action_lines(sample: Any, horizons: Sequence[str] = ('1s', '2s', '3s')) -> list:
    """Text lines ``'pred 1s [Slight right, Keep]'`` for the predicted and GT meta-actions."""
    lines = []
    for key, name in (('pred_meta_actions', 'pred'), ('gt_meta_actions', 'GT')):
        value = sample_get(sample, key)
        if value is None:
            continue
        acts = to_numpy(value).reshape(-1, 2)
        text = ', '.join(f'{h} {meta_action_to_text(int(a), int(b))}' for h, (a, b) in zip(horizons, acts))
        lines.append(f'{name}: {text}')
    return lines


def draw_planning_bev(sample: Any, out_file: Optional[str] = None, view_range: float = 40.0, dpi: int = 100) -> Figure:
    """Plot one sample in BEV (x forward points up, y left points left).

    Draws the agent boxes at the current frame (vehicles blue, pedestrians purple, others grey), the
    ego footprint, the GT / predicted future trajectories and path (where present), and as text the
    token, the command, the predicted and GT meta-actions and ``pred_text`` if any.

    Args:
        sample (DrivingDataSample | dict): the sample (fields as in ``DrivingDataSample``; tensors or
            arrays). Absent fields are skipped.
        out_file (str, optional): write a PNG here.
        view_range (float): metres shown ahead (half of it across, a quarter behind). Defaults
            to 40.
        dpi (int): PNG resolution. Defaults to 100.

    Returns:
        matplotlib.figure.Figure: the figure (not attached to pyplot).
    """
    fig = Figure(figsize=(5.5, 8), dpi=dpi)
    ax = fig.add_axes([0.12, 0.15, 0.84, 0.8])
    boxes = sample_get(sample, 'gt_agent_boxes')
    if boxes is not None and len(boxes):
        labels = sample_get(sample, 'gt_agent_labels')
        labels = to_numpy(labels).astype(int) if labels is not None else np.full(len(boxes), -1)
        for corners, label in zip(box_corners_bev(to_numpy(boxes)), labels):
            ax.add_patch(
                Polygon(corners[:, ::-1], closed=True, fill=False, edgecolor=_agent_color(int(label)), linewidth=1.0)
            )
    ax.add_patch(
        Rectangle(
            (-EGO_WIDTH / 2, 0.5 - EGO_LENGTH / 2), EGO_WIDTH, EGO_LENGTH, facecolor='black', alpha=0.6, label='ego'
        )
    )
    for key, (label, color) in TRAJ_STYLES.items():
        traj = sample_get(sample, key)
        if traj is None:
            continue
        xy = to_numpy(traj).reshape(-1, 2).astype(np.float64)
        mask_key = {'gt_ego_fut_trajs': 'gt_ego_fut_masks'}.get(key)
        mask = sample_get(sample, mask_key) if mask_key else None
        if mask is not None:
            xy = xy[to_numpy(mask).astype(bool)]
        xy = np.concatenate([np.zeros((1, 2)), xy])
        ax.plot(xy[:, 1], xy[:, 0], '-o', color=color, markersize=3, linewidth=1.5, label=label)
    ax.set_xlim(view_range / 2, -view_range / 2)  # +y (left) drawn on the left
    ax.set_ylim(-view_range / 4, view_range)
    ax.set_aspect('equal')
    ax.set_xlabel('y (m, left)')
    ax.set_ylabel('x (m, forward)')
    ax.grid(True, linewidth=0.3)
    ax.legend(loc='upper right', fontsize=7)
    token = sample_get(sample, 'token', '')
    command = sample_get(sample, 'command')
    title = f'{token}'
    if command is not None and 0 <= int(command) < len(COMMANDS):
        title += f'  command: {COMMANDS[int(command)]}'
    ax.set_title(title, fontsize=8)
    lines = meta_action_lines(sample)
    text = sample_get(sample, 'pred_text')
    if text:
        lines.append(f'text: {str(text)[:200]}')
    fig.text(
        0.02, 0.02, '\n'.join(lines) or '(no meta-actions)', fontsize=7, va='bottom', family='monospace', wrap=True
    )
    if out_file is not None:
        fig.savefig(out_file)
    return fig
