# Copyright (c) mmautomot contributors. All rights reserved.
"""One navigation-command vocabulary for every dataset.

Index  name               nuScenes (3-way)        CARLA RoadOption (value)
0      turn_left          |lateral offset| >= 2 m, left    LEFT (1)
1      turn_right         ... right                        RIGHT (2)
2      go_straight        otherwise                        STRAIGHT (3)
3      lane_follow        -                                LANEFOLLOW (4)
4      change_lane_left   -                                CHANGELANELEFT (5)
5      change_lane_right  -                                CHANGELANERIGHT (6)

nuScenes samples use indices 0-2 only; CARLA (Bench2Drive, PDM-Lite) uses all six.
"""

COMMANDS = ('turn_left', 'turn_right', 'go_straight', 'lane_follow', 'change_lane_left', 'change_lane_right')


def carla_command_to_index(road_option: int) -> int:
    """Map CARLA's RoadOption value (1..6; -1 VOID treated as lane follow) to our index."""
    value = int(road_option)
    if value < 0:
        return COMMANDS.index('lane_follow')
    if not 1 <= value <= 6:
        raise ValueError(f'CARLA RoadOption must be in 1..6 or -1, got {road_option}')
    return value - 1


def nuscenes_command_from_offset(lateral_offset: float, threshold: float = 2.0) -> int:
    """The common-practice nuScenes command from the final lateral offset of the GT future.

    Args:
        lateral_offset (float): y of the last valid future ego position in the current ego frame
            (metres, +y is left).
        threshold (float): |offset| >= threshold means a turn. Defaults to 2.0.
    """
    if lateral_offset >= threshold:
        return COMMANDS.index('turn_left')
    if lateral_offset <= -threshold:
        return COMMANDS.index('turn_right')
    return COMMANDS.index('go_straight')
