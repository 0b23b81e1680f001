# Copyright (c) mmautomot contributors. All rights reserved.
"""Solid-colour textures and box models standing in for MetaDrive's asset pack when rendering.

Only used by :func:`mmautomot.closed_loop.metadrive.adapter.write_placeholder_assets` (the official
assets are a download our machines cannot reach). Models are boxes of roughly the real object's size in
the units MetaDrive scales them with: glTF 2.0 (read by panda3d-gltf) for the ``.gltf`` files, Panda3D
``.egg`` for ``sphere.egg`` and ``.bam`` files written by Panda3D from an ``.egg``.
"""

import base64
import json
import os
import os.path as osp

import numpy as np

#: textures MetaDrive loads when rendering (relative to the asset folder).
TEXTURES = (
    'textures/skybox.jpg',
    'textures/ground.png',
    'textures/terrain/heightfield.png',
    'textures/sidewalk/color.png',
    'textures/sidewalk/normal.png',
    'textures/asphalt/diff_2k.png',
    'textures/asphalt/normal_2k.png',
    'textures/asphalt/rough_2k.png',
    'textures/grass2/grass_path_2_diff_1k.png',
    'textures/grass2/grass_path_2_nor_gl_1k.png',
    'textures/grass2/grass_path_2_rough_1k.png',
    'textures/rock/brown_mud_leaves_01_diff_1k.png',
    'textures/rock/brown_mud_leaves_01_nor_gl_1k.png',
    'textures/rock/brown_mud_leaves_01_rough_1k.png',
    'logo-tiny.png',
    'background/logo1.png',
)
VEHICLES = ('ferra', 'truck', 'lada', '130', 'beetle')
#: glTF model -> (size x, y, z in Panda3D axes: x right, y forward, z up; model units), RGBA.
MODELS = {
    'navi_arrow.gltf': ((0.3, 0.6, 0.05), (0.9, 0.6, 0.1, 1)),
    'barrier/scene.gltf': ((2.0, 0.3, 1.0), (0.9, 0.9, 0.9, 1)),
    'bicycle/scene.gltf': ((0.5, 1.8, 1.2), (0.2, 0.5, 0.9, 1)),
    'pedestrian/scene.gltf': ((60.0, 40.0, 170.0), (0.9, 0.3, 0.3, 1)),  # MetaDrive scales it by 0.01
    'tollgate/booth.gltf': ((2.0, 2.0, 3.0), (0.6, 0.6, 0.6, 1)),
    'tollgate/gate.gltf': ((4.0, 0.2, 0.2), (0.9, 0.2, 0.2, 1)),
    'traffic_cone/scene.gltf': ((0.4, 0.4, 0.7), (1.0, 0.5, 0.0, 1)),
    'warning/warning.gltf': ((0.6, 0.1, 0.5), (1.0, 0.2, 0.2, 1)),
}
for _c, _rgba in (
    ('green', (0.1, 0.9, 0.1, 1)),
    ('red', (0.9, 0.1, 0.1, 1)),
    ('yellow', (0.9, 0.9, 0.1, 1)),
    ('unknown', (0.3, 0.3, 0.3, 1)),
):
    MODELS[f'traffic_light/{_c}.gltf'] = ((0.4, 0.4, 1.2), _rgba)
for _v in VEHICLES:
    MODELS[f'{_v}/vehicle.gltf'] = ((1.8, 4.3, 1.4), (0.2, 0.3, 0.8, 1))
    for _t in ('right_tire_front.gltf', 'right_tire_back.gltf'):
        MODELS[f'{_v}/{_t}'] = ((0.25, 0.7, 0.7), (0.05, 0.05, 0.05, 1))
#: .bam files (written from a box .egg) and .egg files.
BAMS = {
    'box.bam': ((1.0, 1.0, 1.0), (0.5, 0.5, 0.5, 1)),
    'skybox.bam': ((200.0, 200.0, 200.0), (0.6, 0.7, 0.9, 1)),
    'beetle/vehicle.bam': ((230.0, 560.0, 180.0), (0.2, 0.3, 0.8, 1)),
}
EGGS = {'sphere.egg': ((0.3, 0.3, 0.3), (1.0, 1.0, 0.8, 1))}

_FACES = [  # (normal, 4 corners as sign triples), counter-clockwise seen from outside
    ((1, 0, 0), [(1, -1, -1), (1, 1, -1), (1, 1, 1), (1, -1, 1)]),
    ((-1, 0, 0), [(-1, 1, -1), (-1, -1, -1), (-1, -1, 1), (-1, 1, 1)]),
    ((0, 1, 0), [(1, 1, -1), (-1, 1, -1), (-1, 1, 1), (1, 1, 1)]),
    ((0, -1, 0), [(-1, -1, -1), (1, -1, -1), (1, -1, 1), (-1, -1, 1)]),
    ((0, 0, 1), [(-1, -1, 1), (1, -1, 1), (1, 1, 1), (-1, 1, 1)]),
    ((0, 0, -1), [(-1, 1, -1), (1, 1, -1), (1, -1, -1), (-1, -1, -1)]),
]


def box_mesh(size):
    """Panda3D-axes box (x right, y forward, z up) standing on z = 0: (24, 3) positions, normals, indices."""
    half = np.array([size[0] / 2, size[1] / 2, size[2] / 2])
    pos, nrm, idx = [], [], []
    for n, corners in _FACES:
        base = len(pos)
        for c in corners:
            p = np.array(c) * half
            pos.append([p[0], p[1], p[2] + half[2]])
            nrm.append(n)
        idx += [base, base + 1, base + 2, base, base + 2, base + 3]
    return np.array(pos, np.float32), np.array(nrm, np.float32), np.array(idx, np.uint16)


def gltf_box(size, rgba) -> dict:
    """A glTF 2.0 document of one box (Y-up as glTF requires: Panda3D (x, y, z) -> glTF (x, z, -y))."""
    pos, nrm, idx = box_mesh(size)
    to_gltf = lambda a: np.stack([a[:, 0], a[:, 2], -a[:, 1]], axis=1).astype(np.float32)  # noqa: E731
    pos, nrm = to_gltf(pos), to_gltf(nrm)
    blob = pos.tobytes() + nrm.tobytes() + idx.tobytes()
    uri = 'data:application/octet-stream;base64,' + base64.b64encode(blob).decode()
    n = len(pos)
    return {
        'asset': {'version': '2.0', 'generator': 'mmautomot placeholder'},
        'scene': 0,
        'scenes': [{'nodes': [0]}],
        'nodes': [{'mesh': 0, 'name': 'box'}],
        'meshes': [{'primitives': [{'attributes': {'POSITION': 0, 'NORMAL': 1}, 'indices': 2, 'material': 0}]}],
        'materials': [
            {'pbrMetallicRoughness': {'baseColorFactor': list(rgba), 'metallicFactor': 0.0, 'roughnessFactor': 0.8}}
        ],
        'buffers': [{'byteLength': len(blob), 'uri': uri}],
        'bufferViews': [
            {'buffer': 0, 'byteOffset': 0, 'byteLength': n * 12, 'target': 34962},
            {'buffer': 0, 'byteOffset': n * 12, 'byteLength': n * 12, 'target': 34962},
            {'buffer': 0, 'byteOffset': n * 24, 'byteLength': len(idx) * 2, 'target': 34963},
        ],
        'accessors': [
            {
                'bufferView': 0,
                'componentType': 5126,
                'count': n,
                'type': 'VEC3',
                'min': pos.min(0).tolist(),
                'max': pos.max(0).tolist(),
            },
            {'bufferView': 1, 'componentType': 5126, 'count': n, 'type': 'VEC3'},
            {'bufferView': 2, 'componentType': 5123, 'count': len(idx), 'type': 'SCALAR'},
        ],
    }


def egg_box(size, rgba) -> str:
    """The same box as a Panda3D ``.egg`` (Z-up)."""
    pos, nrm, _ = box_mesh(size)
    lines = ['<CoordinateSystem> { Z-up }', '<VertexPool> box {']
    for i, (p, n) in enumerate(zip(pos, nrm)):
        lines.append(f'  <Vertex> {i} {{ {p[0]:.4f} {p[1]:.4f} {p[2]:.4f} <Normal> {{ {n[0]} {n[1]} {n[2]} }} }}')
    lines += ['}', '<Group> box {']
    for f in range(6):
        refs = ' '.join(str(4 * f + k) for k in range(4))
        lines.append(
            f'  <Polygon> {{ <RGBA> {{ {rgba[0]} {rgba[1]} {rgba[2]} {rgba[3]} }} '
            f'<VertexRef> {{ {refs} <Ref> {{ box }} }} }}'
        )
    lines.append('}')
    return '\n'.join(lines) + '\n'


def _write(path: str, text: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def write_bam_from_egg(egg_path: str, bam_path: str) -> None:
    """Load an ``.egg`` with Panda3D's loader and write it as ``.bam``."""
    from panda3d.core import Filename, Loader, NodePath

    node = Loader.get_global_ptr().load_sync(Filename.from_os_specific(egg_path))
    if node is None:
        raise OSError(f'Panda3D could not read the placeholder model {egg_path}')
    if not NodePath(node).write_bam_file(Filename.from_os_specific(bam_path)):
        raise OSError(f'Panda3D could not write {bam_path}')


def write_render_assets(root: str, write_image, colour) -> None:
    """Write the placeholder textures and models into ``root``.

    Args:
        write_image: ``write_image(path, rgb)`` writes a solid-colour image.
        colour: ``colour(name)`` gives the RGB colour of a texture from its file name.
    """
    for rel in TEXTURES:
        write_image(osp.join(root, rel), colour(rel))
    models = osp.join(root, 'models')
    for rel, (size, rgba) in MODELS.items():
        _write(osp.join(models, rel), json.dumps(gltf_box(size, rgba)))
    for rel, (size, rgba) in EGGS.items():
        _write(osp.join(models, rel), egg_box(size, rgba))
    for rel, (size, rgba) in BAMS.items():
        egg = osp.join(models, rel[:-4] + '.egg')
        _write(egg, egg_box(size, rgba))
        write_bam_from_egg(egg, osp.join(models, rel))
