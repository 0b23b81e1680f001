# Copyright (c) mmautomot contributors. All rights reserved.
"""CPU closed loop on MetaDrive (``pip install -e .[metadrive]``) with the Bench2Drive agent core.

:mod:`.adapter` holds every adjustment to MetaDrive internals (placeholder assets, headless EGL);
:mod:`.sensors` turns the simulator state into the leaderboard sensors the agent core reads;
:mod:`.episode` drives one episode; :mod:`.scoring` scores it with the Bench2Drive metric code;
:mod:`.evaluate` runs an evaluation (pieces in :mod:`.runner`; per-episode wall-clock watchdog in
:mod:`.watchdog`); :mod:`.scenario` converts nuScenes-format scenes into ``ScenarioEnv`` scenarios
(maps: :mod:`.scenario_map`, :mod:`.scenario_nuscenes_map`); :mod:`.lights` judges red lights;
:mod:`.video` writes episode videos.
MetaDrive itself is imported only inside functions.
"""

from .adapter import make_env, prepare_assets

__all__ = ['make_env', 'prepare_assets']
