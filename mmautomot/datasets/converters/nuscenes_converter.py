# Copyright (c) mmautomot contributors. All rights reserved.
"""Convert nuScenes (real or the built-in synthetic set) to mmautomot info pkls.

Output: ``<out_dir>/<prefix>_infos_{train,val}.pkl`` (``_test`` for v1.0-test) in mmdet3d's v2 layout
``dict(metainfo, data_list)`` extended with planning labels; every field is described in
``docs/contracts.md``. Planning quantities are in the ego frame of the current keyframe (the ego pose
of its ``LIDAR_TOP`` sample_data): x forward, y left, metres.
"""

import json
import os.path as osp
from collections import Counter
from typing import Dict, List

import numpy as np
from mmengine.fileio import dump
from mmengine.utils import track_iter_progress
from pyquaternion import Quaternion

from mmautomot.structures import INFO_VERSION, derive_meta_actions, nuscenes_command_from_offset

from .planning_labels import pad_history, resample_path, status_from_can, status_from_poses, to_local, yaw_in_frame

NUS_TABLES = (
    'attribute',
    'calibrated_sensor',
    'category',
    'ego_pose',
    'instance',
    'log',
    'map',
    'sample',
    'sample_annotation',
    'sample_data',
    'scene',
    'sensor',
    'visibility',
)
NUS_CLASSES = (
    'car',
    'truck',
    'construction_vehicle',
    'bus',
    'trailer',
    'barrier',
    'motorcycle',
    'bicycle',
    'pedestrian',
    'traffic_cone',
)
#: Class order of mmdet3d 1.x's ``NuScenesDataset.METAINFO`` (and of its v2 info converter): the ids of
#: ``instances[i].bbox_label_3d``, which mmdet3d maps to its classes assuming this order (it ignores the
#: pkl's ``categories``). ``plan_agent_labels`` keep :data:`NUS_CLASSES` (VAD / UniAD label ids).
MMDET3D_NUS_CLASSES = (
    'car',
    'truck',
    'trailer',
    'bus',
    'construction_vehicle',
    'bicycle',
    'motorcycle',
    'pedestrian',
    'traffic_cone',
    'barrier',
)
CAM_NAMES = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')
PLANNING = dict(
    fut_steps=6, plan_dt=0.5, hist_steps=4, path_points=20, path_spacing=1.0, ue_hist_frames=4, ue_hist_dt=0.5
)


def _name_mapping() -> Dict[str, str]:
    """mmdet3d's nuScenes category -> detection class mapping (imported lazily: mmdet3d is heavy)."""
    from mmdet3d.datasets.convert_utils import NuScenesNameMapping

    return dict(NuScenesNameMapping)


def _mat(rec: dict) -> np.ndarray:
    """4x4 transform from a nuScenes record with ``translation`` and ``rotation`` (w, x, y, z)."""
    t = np.eye(4)
    t[:3, :3] = Quaternion(rec['rotation']).rotation_matrix
    t[:3, 3] = rec['translation']
    return t


def split_scenes(version: str) -> Dict[str, set]:
    """Official scene-name splits for a nuScenes version."""
    from nuscenes.utils import splits

    if version == 'v1.0-trainval':
        return dict(train=set(splits.train), val=set(splits.val))
    if version == 'v1.0-mini':
        return dict(train=set(splits.mini_train), val=set(splits.mini_val))
    if version == 'v1.0-test':
        return dict(test=set(splits.test))
    raise ValueError(f'unknown nuScenes version {version!r}; expected v1.0-trainval, v1.0-mini or v1.0-test')


def check_tables(root_path: str, version: str) -> None:
    """Raise FileNotFoundError naming the first missing table of ``root_path/version``."""
    for name in NUS_TABLES:
        path = osp.join(root_path, version, f'{name}.json')
        if not osp.isfile(path):
            raise FileNotFoundError(f'nuScenes table {name!r} not found: {path} (is --root-path / --version right?)')


class CanBus:
    """Reads ``<root>/can_bus/<scene>_pose.json`` (the nuScenes CAN bus expansion) per scene."""

    def __init__(self, root_path: str):
        self.root = osp.join(root_path, 'can_bus')
        self._cache = {}

    def pose(self, scene_name: str):
        if scene_name not in self._cache:
            path = osp.join(self.root, f'{scene_name}_pose.json')
            msgs = []
            if osp.isfile(path):
                with open(path) as f:
                    msgs = json.load(f)
            utimes = np.array([m['utime'] for m in msgs], dtype=np.int64)
            order = np.argsort(utimes, kind='stable')
            self._cache[scene_name] = ([msgs[i] for i in order], utimes[order])
        return self._cache[scene_name]


class NuScenesInfoBuilder:
    """Builds one info dict per nuScenes keyframe (see ``docs/contracts.md``).

    Args:
        nusc (NuScenes): a loaded nuscenes-devkit database.
        max_sweeps (int): LiDAR sweeps kept per keyframe (newest first). Defaults to 10.
        check_files (bool): raise FileNotFoundError naming the sample if its LiDAR or camera file is
            missing. Defaults to True. With False (``--skip-missing``: samples with missing files are not
            built), references to other samples' files are repaired instead: a LiDAR sweep whose file is
            missing is left out, and a missing front-camera history frame is replaced by the nearest newer
            one (the current frame exists). ``fixed`` counts these repairs by kind.
    """

    def __init__(self, nusc, max_sweeps: int = 10, check_files: bool = True):
        self.nusc = nusc
        self.max_sweeps = max_sweeps
        self.check_files = check_files
        self.fixed = Counter()
        self.can = CanBus(nusc.dataroot)
        mapping = _name_mapping()
        self.label_of = {cat: NUS_CLASSES.index(cls) for cat, cls in mapping.items()}
        self.det_label_of = {cat: MMDET3D_NUS_CLASSES.index(cls) for cat, cls in mapping.items()}
        self.scene_samples = {}
        for scene in nusc.scene:
            toks, tok = [], scene['first_sample_token']
            while tok:
                toks.append(tok)
                tok = nusc.get('sample', tok)['next']
            self.scene_samples[scene['token']] = toks

    # -------------------------------------------------------------------- basics
    def _lidar(self, sample_tok: str):
        sd = self.nusc.get('sample_data', self.nusc.get('sample', sample_tok)['data']['LIDAR_TOP'])
        return sd

    def _ego2global(self, sd: dict) -> np.ndarray:
        return _mat(self.nusc.get('ego_pose', sd['ego_pose_token']))

    def _sensor2ego(self, sd: dict) -> np.ndarray:
        return _mat(self.nusc.get('calibrated_sensor', sd['calibrated_sensor_token']))

    def _exists(self, rel_path: str) -> bool:
        return osp.isfile(osp.join(self.nusc.dataroot, rel_path))

    def missing_files(self, sample: dict) -> List[str]:
        """Dataset-relative paths of this sample's LiDAR / camera files that do not exist."""
        out = []
        for ch in ('LIDAR_TOP',) + CAM_NAMES:
            if ch in sample['data']:
                fn = self.nusc.get('sample_data', sample['data'][ch])['filename']
                if not osp.isfile(osp.join(self.nusc.dataroot, fn)):
                    out.append(fn)
        return out

    # -------------------------------------------------------------------- main entry
    def build(self, sample_tok: str) -> dict:
        nusc = self.nusc
        sample = nusc.get('sample', sample_tok)
        scene = nusc.get('scene', sample['scene_token'])
        if self.check_files:
            missing = self.missing_files(sample)
            if missing:
                raise FileNotFoundError(
                    f'sample {sample_tok} (scene {scene["name"]}): file not found: '
                    f'{osp.join(nusc.dataroot, missing[0])}'
                    + (f' (and {len(missing) - 1} more)' if len(missing) > 1 else '')
                )
        lidar_sd = self._lidar(sample_tok)
        l2e, e2g = self._sensor2ego(lidar_sd), self._ego2global(lidar_sd)
        g2e = np.linalg.inv(e2g)
        info = dict(
            token=sample_tok,
            scene_token=scene['token'],
            timestamp=sample['timestamp'] / 1e6,
            ego2global=e2g.astype(np.float32),
            lidar_points=dict(lidar_path=lidar_sd['filename'], num_pts_feats=5, lidar2ego=l2e.astype(np.float32)),
        )
        info['lidar_sweeps'] = self._sweeps(lidar_sd, l2e, e2g)
        info['images'] = self._images(sample, l2e, e2g)
        frames = self.scene_samples[scene['token']]
        idx = frames.index(sample_tok)
        info['cam_front_hist'] = self._front_hist(frames, idx)
        info['instances'], agents = self._annotations(sample, frames, idx, g2e, l2e)
        info.update(agents)
        info.update(self._ego_labels(scene, frames, idx, lidar_sd, g2e))
        return info

    # -------------------------------------------------------------------- sensors
    def _sweeps(self, lidar_sd: dict, l2e: np.ndarray, e2g: np.ndarray) -> List[dict]:
        sweeps, sd = [], lidar_sd
        cur_inv = np.linalg.inv(e2g @ l2e)
        while len(sweeps) < self.max_sweeps and sd['prev']:
            sd = self.nusc.get('sample_data', sd['prev'])
            if not self.check_files and not self._exists(sd['filename']):
                self.fixed['LiDAR sweep with a missing file left out'] += 1
                continue
            s_l2e, s_e2g = self._sensor2ego(sd), self._ego2global(sd)
            sweep2lidar = cur_inv @ s_e2g @ s_l2e
            # mmdet3d's LoadPointsFromMultiSweeps applies p @ R - t with this layout
            lidar2sensor = np.eye(4)
            lidar2sensor[:3, :3] = sweep2lidar[:3, :3].T
            lidar2sensor[:3, 3] = -sweep2lidar[:3, 3]
            sweeps.append(
                dict(
                    lidar_points=dict(
                        lidar_path=sd['filename'],
                        lidar2ego=s_l2e.astype(np.float32),
                        lidar2sensor=lidar2sensor.astype(np.float32),
                    ),
                    ego2global=s_e2g.astype(np.float32),
                    timestamp=sd['timestamp'] / 1e6,
                    sample_data_token=sd['token'],
                )
            )
        return sweeps

    def _images(self, sample: dict, l2e: np.ndarray, e2g: np.ndarray) -> Dict[str, dict]:
        images = {}
        lidar2global = e2g @ l2e
        for cam in CAM_NAMES:
            if cam not in sample['data']:
                continue
            sd = self.nusc.get('sample_data', sample['data'][cam])
            cs = self.nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
            c2e, c_e2g = _mat(cs), self._ego2global(sd)
            lidar2cam = np.linalg.inv(c_e2g @ c2e) @ lidar2global
            images[cam] = dict(
                img_path=sd['filename'],
                cam2img=np.array(cs['camera_intrinsic'], np.float32),
                cam2ego=c2e.astype(np.float32),
                lidar2cam=lidar2cam.astype(np.float32),
                ego2global=c_e2g.astype(np.float32),
                sample_data_token=sd['token'],
                timestamp=sd['timestamp'] / 1e6,
                height=sd['height'],
                width=sd['width'],
            )
        return images

    def _front_hist(self, frames: List[str], idx: int) -> List[dict]:
        n, step = PLANNING['ue_hist_frames'], int(round(PLANNING['ue_hist_dt'] / 0.5))
        out = []
        for k in range(n - 1, -1, -1):
            tok = frames[max(idx - k * step, 0)]
            sd = self.nusc.get('sample_data', self.nusc.get('sample', tok)['data']['CAM_FRONT'])
            out.append(dict(img_path=sd['filename'], timestamp=sd['timestamp'] / 1e6))
        if not self.check_files:  # newest first: a missing frame takes the next newer existing one
            for i in range(len(out) - 2, -1, -1):
                if not self._exists(out[i]['img_path']):
                    out[i] = dict(out[i + 1])
                    self.fixed['front-camera history frame with a missing file replaced'] += 1
        return out

    # -------------------------------------------------------------------- agents
    def _annotations(self, sample: dict, frames: List[str], idx: int, g2e: np.ndarray, l2e: np.ndarray):
        nusc, T = self.nusc, PLANNING['fut_steps']
        e2l = np.linalg.inv(l2e)
        future = frames[idx + 1 : idx + 1 + T]
        instances, boxes, labels = [], [], []
        fut_xy, fut_yaw, fut_mask = [], [], []
        for ann_tok in sample['anns']:
            ann = nusc.get('sample_annotation', ann_tok)
            label = self.label_of.get(ann['category_name'])
            if label is None:
                continue
            w, l, h = ann['size']
            rot = Quaternion(ann['rotation']).rotation_matrix
            c_ego = to_local(g2e, ann['translation'])[0]
            yaw_ego = yaw_in_frame(g2e, rot)
            c_lidar = to_local(e2l, c_ego)[0]
            yaw_lidar = yaw_in_frame(e2l @ g2e, rot)
            velo = np.nan_to_num(nusc.box_velocity(ann_tok), nan=0.0)
            velo_lidar = (e2l[:3, :3] @ g2e[:3, :3] @ velo)[:2]
            n_pts = int(ann['num_lidar_pts'])
            instances.append(
                dict(
                    bbox_3d=[
                        float(c_lidar[0]),
                        float(c_lidar[1]),
                        float(c_lidar[2]),
                        l,
                        w,
                        h,  # gravity centre
                        yaw_lidar,
                    ],
                    bbox_label_3d=self.det_label_of[ann['category_name']],
                    bbox_label=self.det_label_of[ann['category_name']],
                    velocity=velo_lidar.astype(np.float32).tolist(),
                    num_lidar_pts=n_pts,
                    num_radar_pts=int(ann['num_radar_pts']),
                    bbox_3d_isvalid=bool(n_pts + int(ann['num_radar_pts']) > 0),
                    instance_token=ann['instance_token'],
                )
            )
            boxes.append([c_ego[0], c_ego[1], c_ego[2], l, w, h, yaw_ego])
            labels.append(label)
            xy, yaws, mask = np.zeros((T, 2)), np.zeros(T), np.zeros(T)
            cur = ann
            for k, fut_tok in enumerate(future):
                if not cur['next']:
                    break
                cur = nusc.get('sample_annotation', cur['next'])
                if cur['sample_token'] != fut_tok:
                    break  # the track skips a keyframe: stop here
                xy[k] = to_local(g2e, cur['translation'])[0, :2]
                yaws[k] = yaw_in_frame(g2e, Quaternion(cur['rotation']).rotation_matrix)
                mask[k] = 1
            fut_xy.append(xy)
            fut_yaw.append(yaws)
            fut_mask.append(mask)
        n = len(boxes)
        agents = dict(
            plan_agent_boxes=np.array(boxes, np.float32).reshape(n, 7),
            plan_agent_labels=np.array(labels, np.int64).reshape(n),
            plan_agent_fut_trajs=np.array(fut_xy, np.float32).reshape(n, T, 2),
            plan_agent_fut_yaws=np.array(fut_yaw, np.float32).reshape(n, T),
            plan_agent_fut_masks=np.array(fut_mask, np.float32).reshape(n, T),
        )
        return instances, agents

    # -------------------------------------------------------------------- ego
    def _ego_labels(self, scene: dict, frames: List[str], idx: int, lidar_sd: dict, g2e: np.ndarray) -> dict:
        T, H, dt = PLANNING['fut_steps'], PLANNING['hist_steps'], PLANNING['plan_dt']

        def pos(tok):
            return to_local(g2e, self._ego2global(self._lidar(tok))[:3, 3])[0, :2]

        def lidar_pos(tok):  # the LIDAR_TOP origin: the published protocols' trajectory point
            sd = self._lidar(tok)
            return to_local(g2e, (self._ego2global(sd) @ self._sensor2ego(sd))[:3, 3])[0, :2]

        fut, fut_lidar = np.zeros((T, 2)), np.zeros((T, 2))
        fut_mask = np.zeros(T, np.float32)
        for k, tok in enumerate(frames[idx + 1 : idx + 1 + T]):
            fut[k], fut_lidar[k], fut_mask[k] = pos(tok), lidar_pos(tok), 1
        path_pts = np.array([pos(tok) for tok in frames[idx + 1 :]]).reshape(-1, 2)
        path, path_mask = resample_path(path_pts, PLANNING['path_points'], PLANNING['path_spacing'])
        hist_valid = np.array([idx - H + k >= 0 for k in range(H)])
        hist = np.zeros((H, 2))
        for k in range(H):
            if hist_valid[k]:
                hist[k] = pos(frames[idx - H + k])
        status, from_can = self._ego_status(scene, lidar_sd)
        hist = pad_history(hist, hist_valid, float(status[0]), dt)
        n_valid = int(fut_mask.sum())
        target = fut[n_valid - 1] if n_valid else np.zeros(2)
        return dict(
            ego_fut_trajs=fut.astype(np.float32),
            ego_fut_masks=fut_mask,
            ego_fut_lidar_trajs=fut_lidar.astype(np.float32),
            ego_hist_trajs=hist.astype(np.float32),
            ego_hist_masks=hist_valid.astype(np.float32),
            ego_status=status,
            can_bus=from_can,
            command=nuscenes_command_from_offset(float(target[1])) if n_valid else nuscenes_command_from_offset(0.0),
            target_point=target.astype(np.float32),
            meta_actions=derive_meta_actions(fut, fut_mask, float(status[0]), dt=dt),
            ego_path=path,
            ego_path_masks=path_mask,
        )

    def _ego_status(self, scene: dict, lidar_sd: dict):
        msgs, utimes = self.can.pose(scene['name'])
        status = status_from_can(msgs, utimes, lidar_sd['timestamp'])
        if status is not None:
            return status, True
        # finite differences over the LiDAR sweeps within +-0.25 s of the keyframe
        before, after, sd = [], [], lidar_sd
        while sd['prev'] and len(before) < 5:
            sd = self.nusc.get('sample_data', sd['prev'])
            if lidar_sd['timestamp'] - sd['timestamp'] > 250_000:
                break
            before.insert(0, sd)
        sd = lidar_sd
        while sd['next'] and len(after) < 5:
            sd = self.nusc.get('sample_data', sd['next'])
            if sd['timestamp'] - lidar_sd['timestamp'] > 250_000:
                break
            after.append(sd)
        chain = before + [lidar_sd] + after
        status = status_from_poses(
            [s['timestamp'] / 1e6 for s in chain], [self._ego2global(s) for s in chain], len(before)
        )
        return status, False


def create_nuscenes_infos(
    root_path: str,
    out_dir: str,
    version: str = 'v1.0-trainval',
    max_sweeps: int = 10,
    info_prefix: str = 'nuscenes',
    skip_missing: bool = False,
) -> Dict[str, str]:
    """Write ``<out_dir>/<info_prefix>_infos_<split>.pkl`` for every split of ``version``.

    Args:
        root_path (str): nuScenes root (holds ``<version>/``, ``samples/``, ``sweeps/``, ``maps/``,
            optionally ``can_bus/``).
        out_dir (str): where the pkls go.
        version (str): 'v1.0-trainval', 'v1.0-mini' or 'v1.0-test'.
        max_sweeps (int): LiDAR sweeps per keyframe. Defaults to 10.
        info_prefix (str): file name prefix. Defaults to 'nuscenes'.
        skip_missing (bool): skip samples whose LiDAR / camera files are missing instead of raising.

    Returns:
        dict: split name -> written pkl path.
    """
    from nuscenes.nuscenes import NuScenes

    split_names = split_scenes(version)
    check_tables(root_path, version)
    nusc = NuScenes(version=version, dataroot=root_path, verbose=False)
    builder = NuScenesInfoBuilder(nusc, max_sweeps=max_sweeps, check_files=not skip_missing)
    lists = {k: [] for k in split_names}
    skipped = Counter()
    scene_split = {}
    for scene in nusc.scene:
        scene_split[scene['token']] = next((k for k, v in split_names.items() if scene['name'] in v), None)
    print(f'Converting {len(nusc.sample)} samples of {version} from {root_path}')
    for sample in track_iter_progress(list(nusc.sample)):
        split = scene_split[sample['scene_token']]
        if split is None:
            skipped[f'scene not in the {"/".join(split_names)} split lists'] += 1
            continue
        if skip_missing and builder.missing_files(sample):
            skipped['missing LiDAR/camera file'] += 1
            continue
        info = builder.build(sample['token'])
        info['sample_idx'] = len(lists[split])
        lists[split].append(info)
    metainfo = dict(
        dataset='nuscenes',
        version=version,
        info_version=INFO_VERSION,
        categories={c: i for i, c in enumerate(NUS_CLASSES)},
        instance_categories={c: i for i, c in enumerate(MMDET3D_NUS_CLASSES)},
        cam_names=list(CAM_NAMES),
        planning=dict(PLANNING),
    )
    paths = {}
    for split, data_list in lists.items():
        path = osp.join(out_dir, f'{info_prefix}_infos_{split}.pkl')
        dump(dict(metainfo=metainfo, data_list=data_list), path)
        paths[split] = path
        print(f'{split}: {len(data_list)} samples -> {path}')
    total = sum(skipped.values())
    print(f'Skipped {total} samples' + (':' if total else '.'))
    for reason, n in skipped.most_common():
        print(f'  {n:6d}  {reason}')
    if builder.fixed:
        print('References of kept samples to missing files repaired:')
        for reason, n in builder.fixed.most_common():
            print(f'  {n:6d}  {reason}')
    return paths
