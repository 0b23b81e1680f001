# Copyright (c) mmautomot contributors. All rights reserved.
"""The info-pkl format version and planning layout, and the check every reader runs.

``tools/create_data.py`` writes ``metainfo.info_version`` = :data:`INFO_VERSION` and
``metainfo.planning`` (the label layout, see ``docs/contracts.md``). Labels of another version are
laid out differently (frames, step counts), so reading them gives silently wrong metrics; the
datasets and ``eval_planning.py`` call :func:`check_info_metainfo`, which fails saying what was
expected and what was found (re-create the infos with ``tools/create_data.py``).
"""

from typing import Mapping, Optional

#: Version of the info-pkl layout written by this code base (nuScenes and Bench2Drive alike).
#: '1.1': ``instances`` follow mmdet3d's nuScenes infos (``bbox_3d`` holds the gravity centre, read by mmdet3d's
#: ``NuScenesDataset`` with ``origin=(0.5, 0.5, 0.5)``; ``bbox_label_3d`` uses mmdet3d's class order, listed in
#: ``metainfo.instance_categories``) and the nuScenes infos carry ``ego_fut_lidar_trajs`` (the published
#: protocols' reference point). '1.0' wrote the bottom centre and our class order.
INFO_VERSION = '1.1'
#: Planning label layout of the nuScenes infos (the ST-P3 / UniAD protocols need 6 steps at 0.5 s).
PLANNING_LAYOUT = dict(
    fut_steps=6, plan_dt=0.5, hist_steps=4, path_points=20, path_spacing=1.0, ue_hist_frames=4, ue_hist_dt=0.5
)


class InfoFormatError(ValueError):
    """An info pkl of another version or planning layout."""


def _same_version(found) -> bool:
    try:
        return float(found) == float(INFO_VERSION)  # 1, '1', '1.0' are the same version
    except (TypeError, ValueError):
        return False


def check_info_metainfo(metainfo: Mapping, source: str, planning: Optional[Mapping] = None) -> None:
    """Check ``metainfo['info_version']`` and ``metainfo['planning']``.

    Args:
        metainfo (Mapping): The pkl's ``metainfo``.
        source (str): The pkl's path, for the message.
        planning (Mapping, optional): Planning values the reader needs (e.g. ``fut_steps=6,
            plan_dt=0.5`` for the nuScenes protocols); every key of :data:`PLANNING_LAYOUT` must be
            present either way. Defaults to None (presence only).

    Raises:
        InfoFormatError: naming the file, the expected and the found values.
    """
    found = metainfo.get('info_version') if isinstance(metainfo, Mapping) else None
    if not _same_version(found):
        raise InfoFormatError(
            f'{source}: info_version {found!r} found in metainfo, expected {INFO_VERSION!r}: the info '
            'pkl was written by another version of tools/create_data.py and its labels may be laid out '
            'differently. Re-create it with tools/create_data.py.'
        )
    layout = metainfo.get('planning')
    if not isinstance(layout, Mapping):
        raise InfoFormatError(
            f'{source}: metainfo has no planning layout dict, expected keys '
            f'{sorted(PLANNING_LAYOUT)}; found {type(layout).__name__}'
        )
    missing = sorted(k for k in PLANNING_LAYOUT if k not in layout)
    if missing:
        raise InfoFormatError(
            f'{source}: metainfo.planning lacks {missing}; expected the keys '
            f'{sorted(PLANNING_LAYOUT)}, found {dict(layout)}'
        )
    wrong = {k: (v, layout[k]) for k, v in (planning or {}).items() if float(layout[k]) != float(v)}
    if wrong:
        detail = ', '.join(f'{k}: expected {e}, found {f}' for k, (e, f) in wrong.items())
        raise InfoFormatError(f'{source}: planning layout differs from what this reader needs ({detail})')
