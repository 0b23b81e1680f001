# Copyright (c) mmautomot contributors. All rights reserved.
"""Agent class vocabulary shared by datasets, metrics and visualisation (no torch import)."""

#: nuScenes detection classes in label-id order (``gt_agent_labels`` index into this tuple).
NUSCENES_CLASSES = (
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
#: the 10-class names counted as "vehicle": the seven moving-vehicle classes, incl. two-wheelers
#: (as UniAD's occupancy labels and VAD's nuScenes ``vehicle.*`` category range). Barrier and
#: traffic cone are never occupancy.
VEHICLE_CLASSES = ('car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'motorcycle', 'bicycle')
PEDESTRIAN_CLASSES = ('pedestrian',)
