# Copyright (c) mmautomot contributors. All rights reserved.
"""Read MMEngine's json logs (``<work_dir>/<timestamp>/vis_data/scalars.json``) and plot training curves."""

import json
from typing import Dict, List, Optional, Sequence

import numpy as np
from matplotlib.figure import Figure


def load_json_log(path: str) -> Dict[str, Dict[str, List[float]]]:
    """One MMEngine scalars log -> ``{'train': {key: [..]}, 'val': {key: [..]}}`` with an ``'step'`` list each.

    Training records carry ``lr`` (and ``loss``); validation records carry metric keys and no ``lr``. Lines that
    are not JSON objects fail with the file and line number.
    """
    out = {'train': {'step': []}, 'val': {'step': []}}
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f'{path}:{lineno}: not a JSON log line ({e})') from None
            if not isinstance(rec, dict) or 'step' not in rec:
                raise ValueError(f'{path}:{lineno}: expected a JSON object with a "step", got {line[:80]!r}')
            mode = 'train' if 'lr' in rec else 'val'
            table = out[mode]
            n = len(table['step'])
            for key, value in rec.items():
                if isinstance(value, (int, float)) and key != 'step':
                    table.setdefault(key, [float('nan')] * n).append(float(value))
            table['step'].append(float(rec['step']))
            for values in table.values():  # keys missing from this record
                if len(values) < n + 1:
                    values.append(float('nan'))
    return out


def plot_curves(
    logs: Sequence[Dict], keys: Sequence[str], legends: Optional[Sequence[str]] = None, title: Optional[str] = None
) -> Figure:
    """Plot ``keys`` (train or val) of several logs against their step, one axis per key.

    Args:
        logs (list[dict]): outputs of :func:`load_json_log`.
        keys (list[str]): scalar names, e.g. ``['loss', 'stp3/L2_avg']``.
        legends (list[str], optional): one label per log. Defaults to ``log0, log1, ...``.
        title (str, optional): figure title.

    Returns:
        matplotlib.figure.Figure
    """
    legends = list(legends or [f'log{i}' for i in range(len(logs))])
    if len(legends) != len(logs):
        raise ValueError(f'{len(legends)} legends for {len(logs)} logs')
    fig = Figure(figsize=(6, 3 * len(keys)), dpi=100)
    for k, key in enumerate(keys):
        ax = fig.add_subplot(len(keys), 1, k + 1)
        found = False
        for log, label in zip(logs, legends):
            for mode in ('train', 'val'):
                if key in log[mode]:
                    x, y = np.asarray(log[mode]['step']), np.asarray(log[mode][key])
                    ok = np.isfinite(y)
                    ax.plot(x[ok], y[ok], '-o' if mode == 'val' else '-', markersize=3, label=f'{label} {mode}')
                    found = True
        if not found:
            raise KeyError(
                f'no log has the key {key!r}; train keys: {sorted(logs[0]["train"])}, '
                f'val keys: {sorted(logs[0]["val"])}'
            )
        ax.set_xlabel('iteration')
        ax.set_ylabel(key)
        ax.grid(True, linewidth=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
