# Copyright (c) mmautomot contributors. All rights reserved.
"""Every adjustment mmautomot makes to MetaDrive internals, in one place (MetaDrive 0.4.3).

MetaDrive (Li et al., "MetaDrive: Composing Diverse Driving Scenarios for Generalizable Reinforcement
Learning", TPAMI 2022) ships without its assets and downloads them on the first ``env.reset()``. Our
machines cannot reach that download, so:

1. **Assets.** When the official pack is installed (``metadrive/assets/version.txt`` equal to the
   MetaDrive version and the grass texture present) it is used untouched. Otherwise
   :func:`write_placeholder_assets` writes a small placeholder pack (solid-colour textures, box models,
   the files the engine checks) into a cache folder and :func:`use_asset_dir` points MetaDrive at it
   (``AssetLoader.asset_path`` and the two ``asset_version`` readers). Nothing is written into the
   installed package.
2. **Headless rendering** (:func:`configure_headless_rendering`): Panda3D's ``p3headlessgl`` (EGL)
   display and multisampling off everywhere MetaDrive asks for it (the prc variables, the engine's
   ``msaa_samples`` and the RGB camera's framebuffer properties; llvmpipe cannot allocate 16x MSAA float
   framebuffers). Skipped when a display (``$DISPLAY``) exists and ``force`` is not set.

:func:`make_env` builds an env after both steps, with the cheap settings of a CPU run.
"""

import functools
import os
import os.path as osp
import pathlib
from typing import Optional, Tuple

import numpy as np

METADRIVE_VERSION = '0.4.3'
GRASS = ('textures', 'grass1', 'GroundGrassGreen002_COL_1K.jpg')
PLACEHOLDER_MARK = 'MMAUTOMOT_PLACEHOLDER'
#: bumped whenever the placeholder pack's content changes (an older pack is rewritten).
PLACEHOLDER_VERSION = 2

#: solid colours (RGB) of the placeholder textures, by file name fragment.
_COLOURS = dict(
    grass=(60, 110, 50),
    road=(70, 70, 75),
    sidewalk=(150, 150, 145),
    line=(230, 230, 230),
    yellow=(220, 180, 40),
    sky=(150, 180, 220),
    default=(128, 128, 128),
)


def _require_metadrive():
    try:
        import metadrive  # noqa: F401
    except ImportError as err:
        raise ImportError(
            'the MetaDrive closed loop needs `pip install -e .[metadrive]` '
            f'(metadrive-simulator=={METADRIVE_VERSION}); original error: {err}'
        ) from err
    import metadrive.version

    if metadrive.version.VERSION != METADRIVE_VERSION:
        raise ImportError(f'mmautomot adapts MetaDrive {METADRIVE_VERSION}, found {metadrive.version.VERSION}')


def package_asset_dir() -> str:
    """The folder where the official MetaDrive assets live when installed."""
    _require_metadrive()
    import metadrive

    return osp.join(osp.dirname(metadrive.__file__), 'assets')


def assets_ready(root: str) -> bool:
    """``root`` holds an asset pack the engine accepts (version file == MetaDrive version, grass texture)."""
    try:
        with open(osp.join(root, 'version.txt')) as f:
            version = f.readline().strip().replace(' ', '')
    except OSError:
        return False
    return version == METADRIVE_VERSION and osp.isfile(osp.join(root, *GRASS))


def is_placeholder(root: str) -> bool:
    return osp.isfile(osp.join(root, PLACEHOLDER_MARK))


def placeholder_version(root: str) -> int:
    """Version of the placeholder pack in ``root`` (0 when absent or unreadable)."""
    try:
        with open(osp.join(root, PLACEHOLDER_MARK)) as f:
            return int(f.readline().split()[-1])
    except (OSError, ValueError, IndexError):
        return 0


def default_cache_dir() -> str:
    base = os.environ.get('MMAUTOMOT_CACHE') or osp.join(osp.expanduser('~'), '.cache', 'mmautomot')
    return osp.join(base, f'metadrive_{METADRIVE_VERSION}', 'assets')


def _colour(name: str) -> Tuple[int, int, int]:
    low = name.lower()
    for key, rgb in _COLOURS.items():
        if key in low:
            return rgb
    return _COLOURS['default']


def _write_image(path: str, rgb, size: int = 8) -> None:
    import cv2

    os.makedirs(osp.dirname(path), exist_ok=True)
    img = np.empty((size, size, 3), np.uint8)
    img[:] = rgb[::-1]  # BGR
    if not cv2.imwrite(path, img):
        raise OSError(f'could not write placeholder texture {path}')


def write_placeholder_assets(root: str) -> str:
    """Write the placeholder asset pack into ``root`` (idempotent) and return ``root``.

    Physics-only runs need only ``version.txt`` and the grass texture; the remaining files (solid
    textures, box models) are what rendering loads (:mod:`mmautomot.closed_loop.metadrive.placeholder_models`).
    The pack is written into a temporary folder and renamed, so a concurrent reader never sees half a pack.
    """
    if assets_ready(root) and placeholder_version(root) == PLACEHOLDER_VERSION:
        return root
    tmp = f'{root}.tmp{os.getpid()}'
    os.makedirs(tmp, exist_ok=True)
    _write_image(osp.join(tmp, *GRASS), _COLOURS['grass'])
    _write_image(osp.join(tmp, 'textures', 'grass1', 'GroundGrassGreen002_NRM_1K.jpg'), (128, 128, 255))
    from .placeholder_models import write_render_assets

    write_render_assets(tmp, _write_image, _colour)
    with open(osp.join(tmp, PLACEHOLDER_MARK), 'w') as f:
        f.write(f'mmautomot placeholder pack (solid colours, boxes) version {PLACEHOLDER_VERSION}\n')
    with open(osp.join(tmp, 'version.txt'), 'w') as f:  # last: marks the pack complete
        f.write(f'{METADRIVE_VERSION}\n')
    os.makedirs(osp.dirname(osp.abspath(root)), exist_ok=True)
    try:
        os.rename(tmp, root)
    except OSError:  # another process won the race, or an old / incomplete pack is in the way
        import shutil

        if not (assets_ready(root) and placeholder_version(root) == PLACEHOLDER_VERSION):
            shutil.rmtree(root, ignore_errors=True)
            os.rename(tmp, root)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def use_asset_dir(root: str) -> None:
    """Point MetaDrive's asset loader and its version checks at ``root``."""
    _require_metadrive()
    import metadrive.engine.base_engine as base_engine
    import metadrive.version as md_version
    from metadrive.engine.asset_loader import AssetLoader

    if not assets_ready(root):
        raise FileNotFoundError(
            f'{root}: not a MetaDrive {METADRIVE_VERSION} asset pack (version.txt / {"/".join(GRASS)} missing)'
        )
    AssetLoader.asset_path = pathlib.PurePosixPath(osp.abspath(root))
    # MetaDrive reads its shaders as ``<assets>/../shaders``: link the package's next to the pack.
    shaders = osp.join(osp.dirname(osp.abspath(root)), 'shaders')
    if not osp.exists(shaders):
        import metadrive

        try:
            os.symlink(osp.join(osp.dirname(metadrive.__file__), 'shaders'), shaders)
        except FileExistsError:
            pass

    def asset_version() -> str:
        with open(osp.join(root, 'version.txt')) as f:
            return f.readline().strip().replace(' ', '')

    md_version.asset_version = asset_version
    base_engine.asset_version = asset_version


def prepare_assets(cache_dir: Optional[str] = None) -> Tuple[str, bool]:
    """Official assets when installed, else the placeholder pack (written on first use).

    Returns:
        tuple: ``(asset_dir, placeholder)``.
    """
    official = package_asset_dir()
    if assets_ready(official):
        return official, False
    root = write_placeholder_assets(cache_dir or default_cache_dir())
    use_asset_dir(root)
    return root, True


def has_display() -> bool:
    return bool(os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))


@functools.lru_cache(maxsize=None)
def configure_headless_rendering(force: bool = False) -> bool:
    """Headless EGL rendering without multisampling (once per process). Returns True if applied."""
    if has_display() and not force:
        return False
    _require_metadrive()
    import metadrive.engine.core.engine_core as engine_core
    from metadrive.component.sensors import rgb_camera
    from panda3d.core import FrameBufferProperties, loadPrcFileData

    for line in (
        'load-display p3headlessgl',
        'aux-display p3headlessgl',
        'window-type offscreen',
        'framebuffer-multisample 0',
        'multisamples 0',
    ):
        loadPrcFileData('mmautomot-headless', line)
    orig_init = engine_core.EngineCore.__init__

    def engine_init(self, global_config):
        loadPrcFileData('mmautomot-headless', 'framebuffer-multisample 0')
        loadPrcFileData('mmautomot-headless', 'multisamples 0')
        return orig_init(self, global_config)

    simplepbr_init = engine_core.init

    def pbr_init(*args, **kwargs):
        kwargs['msaa_samples'] = 0
        return simplepbr_init(*args, **kwargs)

    engine_core.EngineCore.__init__ = engine_init
    _static_pedestrians()
    engine_core.init = pbr_init

    class NoMSAAFilterManager(rgb_camera.FilterManager):
        """The RGB camera's filter manager with the scene buffer's multisampling turned off."""

        def renderSceneInto(self, *args, fbprops=None, **kwargs):  # noqa: N802 - Panda3D's name
            if fbprops is not None:
                fbprops = FrameBufferProperties(fbprops)
                fbprops.set_multisamples(0)
            return super().renderSceneInto(*args, fbprops=fbprops, **kwargs)

        render_scene_into = renderSceneInto

    rgb_camera.FilterManager = NoMSAAFilterManager
    return True


def _static_pedestrians() -> None:
    """Load pedestrians as static models when the pack has no walk animation (the placeholder's box)."""
    from direct.actor.Actor import Actor
    from metadrive.component.traffic_participants import pedestrian

    class _NoAnimation:
        def setPlayRate(self, *args):  # noqa: N802 - Panda3D's names
            pass

        def pose(self, *args):
            pass

        def loop(self, *args, **kwargs):
            pass

    class StaticActor(Actor):
        """An Actor whose missing animation controls are no-ops."""

        def get_anim_control(self, *args, **kwargs):
            try:
                ctrl = super().get_anim_control(*args, **kwargs)
            except AssertionError:  # Panda3D asserts when the model has no animated part at all
                ctrl = None
            return ctrl or _NoAnimation()

        getAnimControl = get_anim_control  # noqa: N815

    pedestrian.Actor = StaticActor


@functools.lru_cache(maxsize=None)
def hide_sidewalks_from_cameras() -> None:
    """No camera renders the sidewalks any more; they stay physical (curb collisions, ``crash_sidewalk``).

    Patches ``BaseBlock._create_in_world`` for the rest of the process (``make_env(render_sidewalk=False)``).
    MetaDrive's own ``show_sidewalk=False`` removes the sidewalk bodies too, which changes the ego's physics
    and the ``collisions_layout`` count, so it is not a rendering option.
    """
    _require_metadrive()
    from metadrive.component.block.base_block import BaseBlock
    from metadrive.constants import CamMask

    orig = BaseBlock._create_in_world

    def create_in_world(self, skip=False):
        out = orig(self, skip)
        self.sidewalk_node_path.hide(CamMask.AllOn)
        return out

    BaseBlock._create_in_world = create_in_world


def env_config(kind: str = 'pg', camera: Optional[dict] = None, **overrides) -> dict:
    """MetaDrive env config with the cheap settings of a CPU run (no terrain, sky box, interface)."""
    cfg = dict(
        use_render=False,
        log_level=50,
        show_terrain=False,
        show_skybox=False,
        show_interface=False,
        preload_models=False,
        show_logo=False,
        show_fps=False,
        show_coordinates=False,
    )
    if camera is not None:
        from metadrive.component.sensors.rgb_camera import RGBCamera

        size = (int(camera.get('width', 320)), int(camera.get('height', 180)))
        # image_observation makes MetaDrive keep the camera (it drops cameras otherwise); the rendered
        # frame comes back in the step's observation (``obs['image']``, BGR uint8, last of the stack).
        cfg.update(
            image_observation=True,
            sensors=dict(rgb_camera=(RGBCamera, *size)),
            stack_size=1,
            interface_panel=[],
            norm_pixel=False,
        )
    cfg.update(overrides)
    if camera is not None:
        cfg['vehicle_config'] = dict(cfg.get('vehicle_config') or {}, image_source='rgb_camera')
    return cfg


def make_env(
    kind: str = 'pg',
    camera: Optional[dict] = None,
    cache_dir: Optional[str] = None,
    render_sidewalk: bool = True,
    **overrides,
):
    """Build a MetaDrive env after :func:`prepare_assets` (and headless rendering for a camera).

    Args:
        kind (str): ``'pg'`` (procedural maps, ``MetaDriveEnv``) or ``'scenario'`` (``ScenarioEnv`` on
            ScenarioNet-format data: pass ``data_directory``).
        camera (dict, optional): ``dict(width, height)`` of the front RGB camera; None = physics only.
        cache_dir (str, optional): where the placeholder pack goes. Defaults to
            ``$MMAUTOMOT_CACHE/metadrive_0.4.3/assets`` (``~/.cache/mmautomot``).
        render_sidewalk (bool): False hides the sidewalks from the cameras for the rest of the process
            (:func:`hide_sidewalks_from_cameras`; physics unchanged). Defaults to True.
        **overrides: MetaDrive config keys (``map``, ``traffic_density``, ``num_scenarios``, ...).
    """
    prepare_assets(cache_dir)
    if camera is not None:
        configure_headless_rendering()
    if not render_sidewalk:
        hide_sidewalks_from_cameras()
    cfg = env_config(kind, camera, **overrides)
    if kind == 'pg':
        from metadrive.envs.metadrive_env import MetaDriveEnv

        return MetaDriveEnv(cfg)
    if kind == 'scenario':
        from metadrive.envs.scenario_env import ScenarioEnv

        return ScenarioEnv(cfg)
    raise ValueError(f"MetaDrive env kind must be 'pg' or 'scenario', got {kind!r}")


def render_camera_view(env, mount: dict, sensor: str = 'rgb_camera') -> np.ndarray:
    """Render one view of a camera rig with the env's RGB camera re-posed on the ego, as (H, W, 4) BGRA.

    The single MetaDrive camera is borrowed for the view (``BaseCamera.perceive`` with a new parent, which
    renders a frame and puts the camera back) and its lens field of view is set to the mount's for that
    render only. CARLA mounts (x forward, y right, z up, metres; yaw clockwise, degrees) become Panda3D's
    vehicle frame (x right, y forward, z up; heading counter-clockwise).

    Args:
        env: a MetaDrive env built with a camera (:func:`make_env` ``camera=...``) after ``reset``.
        mount (dict): ``x, y, z, yaw, fov`` (horizontal, degrees); missing keys default to 0 / 60.
        sensor (str): the env's camera sensor name. Defaults to 'rgb_camera'.
    """
    cam = env.engine.get_sensor(sensor)
    lens = cam.get_lens()
    old_fov = tuple(lens.getFov())
    w, h = float(cam.BUFFER_W), float(cam.BUFFER_H)
    fov_h = float(mount.get('fov', 60.0))
    fov_v = float(np.degrees(2 * np.arctan(np.tan(np.radians(fov_h) / 2) * h / w)))
    lens.setFov(fov_h, fov_v)
    try:
        pos = (float(mount.get('y', 0.0)), float(mount.get('x', 0.0)), float(mount.get('z', 1.6)))
        hpr = (-float(mount.get('yaw', 0.0)), float(mount.get('pitch', 0.0)), 0.0)
        img = cam.perceive(to_float=False, new_parent_node=env.agent.origin, position=pos, hpr=hpr)
    finally:
        lens.setFov(*old_fov)
    img = np.asarray(img)
    if img.ndim == 4:
        img = img[..., -1]
    alpha = np.full(img.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([img[..., :3].astype(np.uint8), alpha], axis=2)
