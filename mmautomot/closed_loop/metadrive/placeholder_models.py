# Copyright (c) mmautomot contributors. All rights reserved.
"""Solid-colour textures and box models standing in for MetaDrive's asset pack when rendering.

Only used by :func:`mmautomot.closed_loop.metadrive.adapter.write_placeholder_assets` (the official
assets are a download our machines cannot reach). Every model is a unit box written as a Panda3D ``.egg``
(the format Panda3D reads natively); the files MetaDrive loads as ``.gltf`` / ``.bam`` get a ``.egg``
copy under the same base name and the loader is pointed at it by the adapter.
"""
import os
import os.path as osp

#: textures MetaDrive loads when rendering (relative to the asset folder).
TEXTURES = (
    'textures/skybox.jpg', 'textures/ground.png', 'textures/terrain/heightfield.png',
    'textures/grass2/grass_path_2_diff_1k.png', 'textures/grass2/grass_path_2_nor_gl_1k.png',
    'textures/grass2/grass_path_2_rough_1k.png', 'textures/asphalt/diff_2k.png', 'logo-tiny.png',
)


def write_render_assets(root: str, write_image, colour) -> None:
    """Write the placeholder textures into ``root`` (``write_image(path, rgb)``, ``colour(name)``)."""
    for rel in TEXTURES:
        write_image(osp.join(root, rel), colour(rel))
    os.makedirs(osp.join(root, 'models'), exist_ok=True)
