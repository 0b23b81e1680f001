# Copyright (c) mmautomot contributors. All rights reserved.
"""The MetaDrive adapter: placeholder assets (used only without the official pack), the asset redirect."""

import os.path as osp

import numpy as np
import pytest

pytest.importorskip('metadrive')

from mmautomot.closed_loop.metadrive import adapter  # noqa: E402


def test_placeholder_pack_is_accepted_by_the_engine_checks(tmp_path, monkeypatch):
    root = str(tmp_path / 'md' / 'assets')
    assert not adapter.assets_ready(root)
    adapter.write_placeholder_assets(root)
    assert adapter.assets_ready(root) and adapter.is_placeholder(root)
    with open(osp.join(root, 'version.txt')) as f:
        assert f.read().strip() == '0.4.3'
    assert osp.isfile(osp.join(root, *adapter.GRASS))
    import cv2

    grass = cv2.imread(osp.join(root, *adapter.GRASS))
    assert grass.shape == (8, 8, 3)
    assert np.abs(grass[0, 0].astype(int) - adapter._COLOURS['grass'][::-1]).max() <= 3  # JPEG
    # idempotent: a second call keeps the pack
    assert adapter.write_placeholder_assets(root) == root

    import metadrive.version as md_version
    from metadrive.engine.asset_loader import AssetLoader

    monkeypatch.setattr(AssetLoader, 'asset_path', AssetLoader.asset_path)
    monkeypatch.setattr(md_version, 'asset_version', md_version.asset_version)
    import metadrive.engine.base_engine as base_engine

    monkeypatch.setattr(base_engine, 'asset_version', base_engine.asset_version)
    adapter.use_asset_dir(root)
    assert AssetLoader.file_path('textures', 'x.png') == osp.join(osp.abspath(root), 'textures', 'x.png')
    assert not AssetLoader.should_update_asset()  # no download attempt
    assert osp.islink(osp.join(osp.dirname(root), 'shaders'))  # <assets>/../shaders for the renderer


def test_incomplete_pack_is_refused(tmp_path):
    root = tmp_path / 'assets'
    (root).mkdir()
    (root / 'version.txt').write_text('0.4.3\n')  # no grass texture
    with pytest.raises(FileNotFoundError, match='not a MetaDrive 0.4.3 asset pack'):
        adapter.use_asset_dir(str(root))
    (root / 'version.txt').write_text('0.4.2\n')
    assert not adapter.assets_ready(str(root))


def test_official_assets_win_over_the_placeholder(tmp_path, monkeypatch):
    official = tmp_path / 'official'
    adapter.write_placeholder_assets(str(official))  # stands in for an installed official pack
    (official / adapter.PLACEHOLDER_MARK).unlink()
    monkeypatch.setattr(adapter, 'package_asset_dir', lambda: str(official))
    root, placeholder = adapter.prepare_assets(str(tmp_path / 'cache' / 'assets'))
    assert root == str(official) and not placeholder
    assert not (tmp_path / 'cache').exists()


def test_unknown_env_kind():
    with pytest.raises(ValueError, match="kind must be 'pg' or 'scenario'"):
        adapter.make_env('carla')


def test_an_older_placeholder_pack_is_rewritten(tmp_path):
    root = tmp_path / 'assets'
    adapter.write_placeholder_assets(str(root))
    (root / adapter.PLACEHOLDER_MARK).write_text('mmautomot placeholder pack version 1\n')
    (root / 'models' / 'box.bam').unlink()
    assert adapter.placeholder_version(str(root)) == 1
    adapter.write_placeholder_assets(str(root))
    assert adapter.placeholder_version(str(root)) == adapter.PLACEHOLDER_VERSION
    assert (root / 'models' / 'box.bam').is_file()
