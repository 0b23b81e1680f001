# Copyright (c) mmautomot contributors. All rights reserved.
"""nuScenes end-to-end planning dataset (open-loop, ST-P3 / UniAD protocols)."""

import copy
import os.path as osp
from typing import Callable, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.fileio import load

from mmautomot.registry import DATASETS
from mmautomot.structures.info_format import check_info_metainfo
from mmautomot.utils.safe_pickle import load_pickle_safe

from .bad_samples import BadSamplePolicy

NUSCENES_DETECTION_CLASSES = (
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
NUSCENES_CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')
DEFAULT_PLANNING_META = dict(
    fut_steps=6, plan_dt=0.5, hist_steps=4, path_points=20, path_spacing=1.0, ue_hist_frames=4, ue_hist_dt=0.5
)


def _join(root: str, path: str) -> str:
    """Join a dataset-relative path with the data root (absolute paths are kept)."""
    return path if not root or osp.isabs(path) else osp.join(root, path)


@DATASETS.register_module()
class NuScenesE2EDataset(BadSamplePolicy, BaseDataset):
    """nuScenes samples with planning labels for end-to-end driving.

    Reads the info pkl written by ``tools/create_data.py`` (mmdet3d v2 layout plus the planning
    fields, see ``docs/contracts.md``): ``dict(metainfo=dict(...), data_list=[info, ...])``. Every
    info keeps all its fields; file paths (LiDAR, LiDAR sweeps, cameras, front-camera history) are
    made absolute by joining them with ``data_root``. The pkl's ``metainfo['planning']`` values
    ``plan_dt``, ``path_spacing`` and ``dataset`` are copied into every info so the pipeline can put
    them in the sample metainfo.

    Note that MMEngine's :meth:`get_data_info` sets ``sample_idx`` to the index in this dataset
    (after filtering); ``token`` is the stable sample id.

    Args:
        ann_file (str): info pkl, relative to ``data_root`` unless absolute.
        data_root (str): dataset root, e.g. ``'data/nuscenes/'``. Defaults to ''.
        pipeline (list[dict | Callable]): transforms (registry ``mmautomot::transform``).
            Defaults to ``[]``.
        test_mode (bool): test phase flag (samples failing the pipeline are not re-fetched).
            Defaults to False.
        filter_invalid_future (bool): drop samples whose ``ego_fut_masks`` is not all ones (the
            ST-P3 / VAD evaluation policy). The planning metric handles masks, so this defaults
            to False (UniAD policy: keep every sample).
        on_bad_sample (str): ``'raise'`` (a sample whose files fail to load ends the run with an error
            naming it) or ``'skip'`` (logged by token and skipped; testing lists skipped samples in
            ``test_metrics.json``), see :mod:`mmautomot.datasets.bad_samples`. Defaults to 'raise'.
        metainfo (dict, optional): overrides for the dataset meta information (highest
            priority over the pkl's metainfo and :attr:`METAINFO`). Defaults to None.
        **kwargs: other :class:`mmengine.dataset.BaseDataset` arguments (``indices``,
            ``lazy_init``, ``serialize_data``, ``max_refetch``, ...).
    """

    #: Class-level meta (MMEngine gives it priority over the pkl's metainfo, so the pkl's
    #: ``cam_names``/``dataset`` are not repeated here; missing ones default in ``load_data_list``).
    METAINFO = dict(classes=NUSCENES_DETECTION_CLASSES)
    #: Keys every info must hold (checked at load time, named in the error).
    REQUIRED_KEYS = ('token', 'timestamp', 'ego_fut_trajs', 'ego_fut_masks', 'ego_hist_trajs', 'ego_status', 'command')

    def __init__(
        self,
        ann_file: str,
        data_root: str = '',
        pipeline: Sequence[Union[dict, Callable]] = (),
        test_mode: bool = False,
        filter_invalid_future: bool = False,
        on_bad_sample: str = 'raise',
        metainfo: Optional[dict] = None,
        **kwargs,
    ) -> None:
        self.filter_invalid_future = filter_invalid_future
        self._init_bad_sample_policy(on_bad_sample)
        super().__init__(
            ann_file=ann_file,
            metainfo=metainfo,
            data_root=data_root,
            pipeline=list(pipeline),
            test_mode=test_mode,
            **kwargs,
        )

    def load_data_list(self) -> List[dict]:
        """Load and parse the info pkl, with clear errors for a missing or malformed file."""
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'{type(self).__name__}: annotation file {self.ann_file!r} does not exist '
                f'(data_root={self.data_root!r}). Create it with tools/create_data.py.'
            )
        annotations = (
            load_pickle_safe(self.ann_file) if self.ann_file.endswith(('.pkl', '.pickle')) else load(self.ann_file)
        )
        if not isinstance(annotations, dict):
            raise TypeError(
                f'{type(self).__name__}: {self.ann_file!r} must hold a dict with '
                f"'metainfo' and 'data_list', got {type(annotations).__name__}"
            )
        missing = [k for k in ('metainfo', 'data_list') if k not in annotations]
        if missing:
            raise KeyError(
                f'{type(self).__name__}: {self.ann_file!r} lacks {missing} (found keys '
                f'{sorted(annotations)}); expected the mmdet3d v2 layout '
                f'dict(metainfo=..., data_list=[...]) of docs/contracts.md'
            )
        check_info_metainfo(annotations['metainfo'], repr(self.ann_file))
        for key, value in annotations['metainfo'].items():
            self._metainfo.setdefault(key, value)
        self._metainfo.setdefault('dataset', 'nuscenes')
        self._metainfo.setdefault('cam_names', list(NUSCENES_CAMERAS))
        planning = dict(DEFAULT_PLANNING_META)
        planning.update(self._metainfo.get('planning', {}))
        self._metainfo['planning'] = planning
        return [self.parse_data_info(info) for info in annotations['data_list']]

    def parse_data_info(self, info: dict) -> dict:
        """Make the file paths of one info absolute and add dataset-level planning meta.

        Args:
            info (dict): one raw info of the pkl (see ``docs/contracts.md``).

        Returns:
            dict: a copy of ``info`` with absolute ``lidar_points.lidar_path``,
            ``lidar_sweeps[i].lidar_points.lidar_path``, ``images[cam].img_path`` and
            ``cam_front_hist[i].img_path``, plus ``dataset``, ``plan_dt`` and ``path_spacing``.
        """
        missing = [k for k in self.REQUIRED_KEYS if k not in info]
        if missing:
            raise KeyError(
                f'{type(self).__name__}: info {info.get("token", "<no token>")!r} '
                f'in {self.ann_file!r} lacks planning keys {missing}'
            )
        info = copy.copy(info)
        root = self.data_root
        if 'lidar_points' in info:
            info['lidar_points'] = dict(info['lidar_points'])
            info['lidar_points']['lidar_path'] = _join(root, info['lidar_points']['lidar_path'])
        if 'lidar_sweeps' in info:
            sweeps = []
            for sweep in info['lidar_sweeps']:
                sweep = dict(sweep, lidar_points=dict(sweep['lidar_points']))
                sweep['lidar_points']['lidar_path'] = _join(root, sweep['lidar_points']['lidar_path'])
                sweeps.append(sweep)
            info['lidar_sweeps'] = sweeps
        if 'images' in info:
            info['images'] = {
                cam: dict(cam_info, img_path=_join(root, cam_info['img_path']))
                for cam, cam_info in info['images'].items()
            }
        if 'cam_front_hist' in info:
            info['cam_front_hist'] = [
                dict(frame, img_path=_join(root, frame['img_path'])) for frame in info['cam_front_hist']
            ]
        planning = self._metainfo['planning']
        info.setdefault('dataset', self._metainfo.get('dataset', 'nuscenes'))
        info.setdefault('plan_dt', float(planning['plan_dt']))
        info.setdefault('path_spacing', float(planning['path_spacing']))
        return info

    def filter_data(self) -> List[dict]:
        """Drop samples without a complete future when ``filter_invalid_future`` is set."""
        if not self.filter_invalid_future:
            return self.data_list
        return [info for info in self.data_list if np.asarray(info['ego_fut_masks']).astype(bool).all()]
