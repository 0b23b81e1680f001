# Constant velocity on nuScenes-format scenes replayed in MetaDrive's ScenarioEnv (seed s = scene s % N):
#   python tools/create_data.py nuscenes ...   # writes data/nuscenes-synthetic/nuscenes_infos_val.pkl
#   python tools/closed_loop/run_metadrive.py configs/metadrive/constant-velocity_metadrive-scenario.py \
#       --episodes 4 --seed 0 --out work_dirs/metadrive/cv_scenario
# The scenes are converted into OUT/scenarios (ScenarioDescription pkls); other agents replay their tracks
# (env.reactive_traffic=True: IDM-driven instead); fixed-time lights at the junction stop lines (env.lights,
# None = no lights) make red-light infractions count.
_base_ = ['./constant-velocity_metadrive.py']
env = dict(
    _delete_=True,
    kind='scenario',
    info_file='data/nuscenes-synthetic/nuscenes_infos_val.pkl',
    map_source='synthetic_grid',
    lights=dict(cycle=(10.0, 2.0), offset_s=0.0),
    reactive_traffic=False,
    camera=None,
)
episode = dict(max_steps=400)
