# Copyright (c) mmautomot contributors. All rights reserved.
"""nuScenes-format scenes (our info pkls) -> MetaDrive ``ScenarioDescription`` scenarios (ScenarioNet layout).

MetaDrive's ``ScenarioEnv`` (Li et al., "ScenarioNet: Open-Source Platform for Large-Scale Traffic Scenario
Simulation and Modeling", NeurIPS 2023 D&B) replays scenarios stored as ``sd_*.pkl`` files with a
``dataset_summary.pkl`` and ``dataset_mapping.pkl``. :func:`convert_info_scenes` reads the info pkl that
``tools/create_data.py nuscenes`` writes (synthetic or real nuScenes; read with
:func:`~mmautomot.utils.safe_pickle.load_pickle_safe`), groups its keyframes by ``scene_token`` and builds
one scenario per scene:

* time: the 2 Hz keyframes resampled to ``1 / dt`` Hz (MetaDrive advances one scenario frame per env step,
  so ``dt`` must equal the closed loop's control period); ``metadata.ts`` starts at 0;
* ``tracks['ego']`` (the SDC, ``metadata.sdc_id``): the keyframes' ``ego2global`` poses, linearly
  interpolated (heading unwrapped), velocity by finite differences, nuScenes' ego size (Renault Zoe);
* one track per ``instance_token``: its boxes (LiDAR frame, gravity centre) moved to the global frame,
  interpolated between consecutive keyframes that both hold it (``valid`` False elsewhere, every state
  zero there as ``sanity_check(valid_check=True)`` demands); type from the info's ``metainfo.categories``
  (vehicles, pedestrians, cyclists, cones, barriers);
* map features from ``map_source``: ``'synthetic_grid'`` (the synthetic dataset's road grid,
  :func:`~.scenario_map.grid_map_features`), ``'nuscenes'`` (the devkit's map expansion,
  :func:`~.scenario_nuscenes_map.nuscenes_map_features`) or ``'none'``;
* ``dynamic_map_states``: the info data carry no light states, so lights come only from the documented
  ``lights`` option (:func:`~.scenario_map.light_cycle_states`, a fixed-time cycle at junction stop lines).

Frame: nuScenes' global frame (x east, y north, z up, metres, yaw counter-clockwise from +x) is MetaDrive's
right-handed frame, so coordinates are copied unchanged (``metadata.coordinate = 'right-handed'``).
"""

import os
import os.path as osp
import pickle
from collections import defaultdict
from typing import Dict, List, Optional

import numpy as np

from .scenario_map import grid_map_features, light_cycle_states

#: nuScenes ego vehicle (Renault Zoe) length, width, height in metres.
EGO_SIZE = (4.084, 1.730, 1.562)
#: nuScenes detection class -> MetaDrive object type.
TYPE_OF = dict(
    car='VEHICLE',
    truck='VEHICLE',
    bus='VEHICLE',
    trailer='VEHICLE',
    construction_vehicle='VEHICLE',
    pedestrian='PEDESTRIAN',
    bicycle='CYCLIST',
    motorcycle='CYCLIST',
    traffic_cone='TRAFFIC_CONE',
    barrier='TRAFFIC_BARRIER',
)
SDC_ID = 'ego'


def _yaw(rot: np.ndarray) -> float:
    return float(np.arctan2(rot[1, 0], rot[0, 0]))


def _resample(t_src: np.ndarray, values: np.ndarray, t_dst: np.ndarray) -> np.ndarray:
    return np.stack([np.interp(t_dst, t_src, values[:, k]) for k in range(values.shape[1])], axis=1)


def _track(kind: str, obj_id: str, pos, heading, vel, size, valid, meta: Optional[dict] = None) -> dict:
    valid = np.asarray(valid, dtype=bool)
    m = valid.astype(np.float64)
    state = dict(
        position=np.asarray(pos, dtype=np.float64) * m[:, None],
        heading=np.asarray(heading, dtype=np.float64) * m,
        velocity=np.asarray(vel, dtype=np.float64) * m[:, None],
        length=np.asarray(size[0], dtype=np.float64) * m,
        width=np.asarray(size[1], dtype=np.float64) * m,
        height=np.asarray(size[2], dtype=np.float64) * m,
        valid=valid,
    )
    return dict(
        type=kind, state=state, metadata=dict(type=kind, object_id=obj_id, track_length=len(valid), **(meta or {}))
    )


def _group_scenes(data_list: List[dict], source: str) -> Dict[str, List[dict]]:
    scenes = defaultdict(list)
    for i, info in enumerate(data_list):
        for key in ('scene_token', 'timestamp', 'ego2global'):
            if key not in info:
                raise KeyError(f'{source}: sample {i} ({info.get("token", "?")}) has no {key!r}')
        scenes[info['scene_token']].append(info)
    return {k: sorted(v, key=lambda x: x['timestamp']) for k, v in scenes.items()}


def scene_to_scenario(
    frames: List[dict],
    label_names: Dict[int, str],
    dt: float = 0.05,
    map_features: Optional[dict] = None,
    dynamic_map_states=None,
    scenario_id: str = 'scene',
    dataset: str = 'nuscenes',
) -> dict:
    """One scene's keyframes (info dicts sorted by time) -> a ScenarioDescription dict.

    Args:
        frames (list[dict]): the scene's info dicts (``timestamp`` s, ``ego2global`` (4, 4),
            ``lidar_points.lidar2ego`` (4, 4), ``instances`` with ``bbox_3d`` (LiDAR frame, gravity centre,
            ``[x, y, z, l, w, h, yaw]``), ``velocity`` (2,) LiDAR frame, ``bbox_label_3d``, ``instance_token``).
        label_names (dict): label -> class name (``metainfo.categories`` inverted).
        dt (float): scenario frame period, seconds (the closed loop's control period). Defaults to 0.05.
        map_features (dict, optional): ScenarioNet map features. Defaults to none.
        dynamic_map_states (callable or dict, optional): light states, or a function ``ts -> states``.
        scenario_id (str): the scenario id (the scene token).

    Returns:
        dict: a plain-dict ScenarioDescription (passes ``ScenarioDescription.sanity_check``).
    """
    if len(frames) < 2:
        raise ValueError(f'scene {scenario_id}: needs at least 2 keyframes to resample, got {len(frames)}')
    t_kf = np.array([f['timestamp'] for f in frames], dtype=np.float64)
    t_kf -= t_kf[0]
    if np.any(np.diff(t_kf) <= 0):
        raise ValueError(f'scene {scenario_id}: keyframe timestamps are not strictly increasing')
    ts = np.arange(0.0, t_kf[-1] + 1e-6, dt)
    T = len(ts)
    e2g = np.stack([np.asarray(f['ego2global'], dtype=np.float64) for f in frames])
    ego_xyz = _resample(t_kf, e2g[:, :3, 3], ts)
    ego_yaw = np.interp(ts, t_kf, np.unwrap([_yaw(m[:3, :3]) for m in e2g]))
    ego_vel = np.gradient(ego_xyz[:, :2], dt, axis=0)
    tracks = {
        SDC_ID: _track(
            'VEHICLE', SDC_ID, ego_xyz, ego_yaw, ego_vel, [np.full(T, s) for s in EGO_SIZE], np.ones(T, bool)
        )
    }
    # per instance: keyframe index -> (centre (3,), yaw, velocity (2,), size (3,)) in the global frame
    obs = defaultdict(dict)
    kinds = {}
    for k, f in enumerate(frames):
        l2e = np.asarray(f.get('lidar_points', {}).get('lidar2ego', np.eye(4)), dtype=np.float64)
        l2g = e2g[k] @ l2e
        for inst in f.get('instances', []):
            name = label_names.get(int(inst['bbox_label_3d']))
            if name not in TYPE_OF:
                continue
            x, y, z, length, width, height, yaw = (float(v) for v in inst['bbox_3d'][:7])
            centre = (l2g @ np.array([x, y, z, 1.0]))[:3]
            head = l2g[:3, :3] @ np.array([np.cos(yaw), np.sin(yaw), 0.0])
            vel = l2g[:3, :3] @ np.array([*np.asarray(inst.get('velocity', (0.0, 0.0)), dtype=np.float64)[:2], 0.0])
            token = str(inst['instance_token'])
            obs[token][k] = (centre, float(np.arctan2(head[1], head[0])), vel[:2], (length, width, height))
            kinds[token] = TYPE_OF[name]
    for token, seen in obs.items():
        pos, yaw, vel, size = np.zeros((T, 3)), np.zeros(T), np.zeros((T, 2)), np.zeros((3, T))
        valid = np.zeros(T, bool)
        ks = sorted(seen)
        for a, b in zip(ks, ks[1:] + [None]):
            if b is not None and b == a + 1:  # consecutive keyframes: interpolate between them
                sel = (ts >= t_kf[a] - 1e-9) & (ts <= t_kf[b] + 1e-9)
                w = ((ts[sel] - t_kf[a]) / (t_kf[b] - t_kf[a]))[:, None]
                (ca, ya, va, sa), (cb, yb, vb, sb) = seen[a], seen[b]
                yb = ya + (yb - ya + np.pi) % (2 * np.pi) - np.pi
                pos[sel] = (1 - w) * ca + w * cb
                yaw[sel] = ((1 - w) * ya + w * yb)[:, 0]
                vel[sel] = (1 - w) * va + w * vb
                size[:, sel] = ((1 - w) * np.asarray(sa) + w * np.asarray(sb)).T
                valid |= sel
            else:  # isolated keyframe: valid at its own frame only
                i = int(np.argmin(np.abs(ts - t_kf[a])))
                pos[i], yaw[i], vel[i], size[:, i], valid[i] = seen[a][0], seen[a][1], seen[a][2], seen[a][3], True
        tracks[token] = _track(kinds[token], token, pos, yaw, vel, size, valid)
    lights = dynamic_map_states(ts) if callable(dynamic_map_states) else dict(dynamic_map_states or {})
    return dict(
        id=str(scenario_id),
        version='mmautomot-0.1',
        length=T,
        tracks=tracks,
        dynamic_map_states=lights,
        map_features=dict(map_features or {}),
        metadata=dict(
            ts=ts,
            metadrive_processed=False,
            coordinate='right-handed',
            sdc_id=SDC_ID,
            dataset=dataset,
            scenario_id=str(scenario_id),
            source_file=str(frames[0].get('token', '')),
            dt=float(dt),
            start_timestamp=float(frames[0]['timestamp']),
        ),
    )


def sanity_check(scenario: dict) -> None:
    """MetaDrive's ``ScenarioDescription.sanity_check`` (with the valid-mask check) on one scenario."""
    from metadrive.scenario.scenario_description import ScenarioDescription

    ScenarioDescription.sanity_check(scenario, check_self_type=True, valid_check=True)


def convert_info_scenes(
    info_file: str,
    out_dir: str,
    dt: float = 0.05,
    map_source: str = 'synthetic_grid',
    lights: Optional[dict] = None,
    max_scenes: Optional[int] = None,
    check: bool = True,
    data_root: Optional[str] = None,
    map_margin: float = 50.0,
) -> List[str]:
    """Write the scenes of an info pkl as a ScenarioNet dataset folder ``out_dir`` for ``ScenarioEnv``.

    Args:
        info_file (str): info pkl (``{'metainfo', 'data_list'}``).
        out_dir (str): output folder (``sd_*.pkl``, ``dataset_summary.pkl``, ``dataset_mapping.pkl``).
        dt (float): scenario frame period (= the closed loop's control period), seconds. Defaults to 0.05.
        map_source (str): ``'synthetic_grid'`` (the synthetic dataset's road grid), ``'nuscenes'`` (the
            devkit's map expansion under ``data_root``, :mod:`.scenario_nuscenes_map`) or ``'none'``.
            Defaults to 'synthetic_grid'.
        lights (dict, optional): ``dict(cycle=(green_s, yellow_s), offset_s=0.0)`` puts fixed-time lights at
            the junction stop lines (:func:`~.scenario_map.light_cycle_states`); None = no lights.
        max_scenes (int, optional): convert only the first scenes (sorted by first timestamp).
        check (bool): run MetaDrive's ``sanity_check`` on each scenario (needs MetaDrive). Defaults to True.
        data_root (str, optional): nuScenes root (tables, ``maps/expansion``) for ``map_source='nuscenes'``.
        map_margin (float): with ``'nuscenes'``, map kept this far around the ego track, metres. Defaults to 50.

    Returns:
        list[str]: the written scenario file names, in ``ScenarioEnv`` index order.
    """
    from mmautomot.utils.safe_pickle import load_pickle_safe

    data = load_pickle_safe(info_file)
    if not isinstance(data, dict) or 'data_list' not in data:
        raise KeyError(f"{info_file}: not an info pkl (no 'data_list')")
    cats = (data.get('metainfo') or {}).get('categories')
    if not cats:
        raise KeyError(f"{info_file}: metainfo has no 'categories' (label -> class name)")
    label_names = {int(v): str(k) for k, v in cats.items()}
    if map_source not in ('synthetic_grid', 'nuscenes', 'none'):
        raise ValueError(f"map_source must be 'synthetic_grid', 'nuscenes' or 'none', got {map_source!r}")
    if lights is not None and map_source == 'none':
        raise ValueError("lights need a map with junction stop lines; map_source='none' has none")
    grid = grid_map_features() if map_source == 'synthetic_grid' else None
    if map_source == 'nuscenes':
        if data_root is None:
            raise ValueError("map_source='nuscenes' needs data_root (the nuScenes tables and maps/expansion)")
        from .scenario_nuscenes_map import scene_locations

        version = str((data.get('metainfo') or {}).get('version', 'v1.0-trainval'))
        locations, maps = scene_locations(data_root, version), {}

    def scene_map(token, frames):
        if map_source == 'synthetic_grid':
            return grid
        if map_source == 'none':
            return {}, {}
        from nuscenes.map_expansion.map_api import NuScenesMap

        from .scenario_nuscenes_map import nuscenes_map_features

        if token not in locations:
            raise KeyError(f'{info_file}: scene {token} is not in the nuScenes tables under {data_root}')
        loc = locations[token]
        if loc not in maps:
            maps[loc] = NuScenesMap(dataroot=data_root, map_name=loc)
        xy = np.stack([np.asarray(f['ego2global'], dtype=np.float64)[:2, 3] for f in frames])
        centre = (xy.max(0) + xy.min(0)) / 2
        return nuscenes_map_features(maps[loc], centre, float(np.ptp(xy, axis=0).max()) / 2 + map_margin)

    scenes = sorted(_group_scenes(data['data_list'], info_file).items(), key=lambda kv: kv[1][0]['timestamp'])
    if max_scenes is not None:
        scenes = scenes[: int(max_scenes)]
    os.makedirs(out_dir, exist_ok=True)
    version = str((data.get('metainfo') or {}).get('version', 'unknown'))
    summary, mapping, names = {}, {}, []
    for token, frames in scenes:
        feats, stops = scene_map(token, frames)
        light_fn = None
        if lights is not None:
            light_fn = lambda ts, stops=stops: light_cycle_states(stops, ts, **lights)  # noqa: E731
        sc = scene_to_scenario(frames, label_names, dt, feats, light_fn, scenario_id=token)
        if check:
            try:
                sanity_check(sc)
            except AssertionError as err:
                raise ValueError(f'{info_file}: scene {token} fails ScenarioDescription.sanity_check: {err}') from err
        name = f'sd_nuscenes_{version}_{token}.pkl'
        with open(osp.join(out_dir, name), 'wb') as f:
            pickle.dump(sc, f)
        summary[name] = dict(sc['metadata'], number_summary=dict(num_objects=len(sc['tracks'])))
        mapping[name] = ''
        names.append(name)
    with open(osp.join(out_dir, 'dataset_summary.pkl'), 'wb') as f:
        pickle.dump(summary, f)
    with open(osp.join(out_dir, 'dataset_mapping.pkl'), 'wb') as f:
        pickle.dump(mapping, f)
    return names


def scenario_env_config(env_cfg: dict, out_dir: str, dt: float = 0.05) -> dict:
    """The ``ScenarioEnv`` part of an evaluation config's ``env`` dict, converting scenes when asked.

    ``env`` keys: ``info_file`` (convert this info pkl into ``out_dir/scenarios`` with ``map_source``,
    ``lights``, ``max_scenes``) or ``data_directory`` (an existing ScenarioNet folder); the remaining keys
    go to ``ScenarioEnv`` (e.g. ``reactive_traffic=True``: MetaDrive then drives the moving vehicles that
    start behind the ego in its direction by IDM along their recorded paths; all others replay).

    Returns:
        dict: ScenarioEnv keys with ``data_directory``, ``start_scenario_index=0`` and ``num_scenarios``
        (all scenarios in the folder).
    """
    from mmautomot.utils.safe_pickle import load_pickle_safe

    cfg = dict(env_cfg)
    info_file = cfg.pop('info_file', None)
    conv = {k: cfg.pop(k) for k in ('map_source', 'lights', 'max_scenes', 'data_root', 'map_margin') if k in cfg}
    if info_file is not None:
        cfg['data_directory'] = osp.join(out_dir, 'scenarios')
        convert_info_scenes(info_file, cfg['data_directory'], dt=dt, **conv)
    elif conv:
        raise KeyError(f'env keys {sorted(conv)} need env.info_file (they configure the conversion)')
    data_dir = cfg.get('data_directory')
    summary_file = osp.join(str(data_dir), 'dataset_summary.pkl')
    if data_dir is None or not osp.isfile(summary_file):
        raise FileNotFoundError(f'scenario env: {summary_file} not found (set env.info_file or env.data_directory)')
    cfg.update(start_scenario_index=0, num_scenarios=len(load_pickle_safe(summary_file)))
    for key in ('start_seed', 'map', 'traffic_density'):  # procedural-map keys ScenarioEnv does not know
        cfg.pop(key, None)
    return cfg
