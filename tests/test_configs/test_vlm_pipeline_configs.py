# Copyright (c) mmautomot contributors. All rights reserved.
"""Configs whose pipelines compute the UE inputs (``ProcessVLMInputs``) give it the model's own UE config, so
the pipeline's processor and the model's cannot drift (a child config that swaps ``model.mot.ue`` must also
swap the pipeline's)."""

import glob
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    + glob.glob(osp.join(REPO, 'projects', '*', 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p
)


def _vlm_transforms(cfg):
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for t in ((cfg.get(loader) or {}).get('dataset') or {}).get('pipeline') or []:
            if t.get('type') in ('ProcessVLMInputs', 'ProcessVLAPrefixInputs', 'TokenizeInstruction'):
                yield loader, t


AUTOMOT_PIPELINE_CONFIGS = (
    'automot_tiny_1xb2-200i_nuscenes-e2e',
    'automot_qwen3vl-4b_8xb1-12e_nuscenes-e2e',
    'automot_paligemma-3b_8xb1-12e_nuscenes-e2e',
    'automot-released_tiny_1xb2-200i_nuscenes-e2e',  # released layout: its own pipeline
    'automot_qwen3vl-4b_released-weights',  # inherits the 4B pipeline and UE
)


@pytest.mark.parametrize('name', AUTOMOT_PIPELINE_CONFIGS)
def test_the_tiny_paper_and_released_automot_configs_process_in_the_pipeline(name):
    cfg = Config.fromfile(osp.join(REPO, 'projects/automot/configs', name + '.py'))
    found = list(_vlm_transforms(cfg))
    assert [loader for loader, _ in found] == ['train_dataloader', 'val_dataloader', 'test_dataloader'], name
    for loader, t in found:
        assert t['ue'] == cfg.model.mot.ue, f'{name}: {loader}'
        pipeline = [c['type'] for c in cfg[loader].dataset.pipeline]
        # after the prompt is built, before packing
        assert (
            pipeline.index('BuildPlanningTargets')
            < pipeline.index('ProcessVLMInputs')
            < pipeline.index('PackDrivingInputs')
        ), f'{name}: {loader} {pipeline}'


@pytest.mark.parametrize('path', CONFIGS)
def test_pipeline_ue_is_the_models(path):
    cfg = Config.fromfile(osp.join(REPO, path))
    for loader, t in _vlm_transforms(cfg):
        vlm = cfg.model.mot.ue if 'mot' in cfg.model else cfg.model.vlm  # SAMoE-VLA: model.vlm
        assert t['ue'] == vlm, f"{path}: {loader} {t['type']}.ue differs from the model's VLM config"


DRIVEMOE_CONFIGS = sorted(p for p in CONFIGS if p.startswith(osp.join('projects', 'drivemoe', 'configs')))


@pytest.mark.parametrize('path', DRIVEMOE_CONFIGS)
def test_drive_pi0_family_configs_process_the_prefix_in_the_pipeline(path):
    """Every Drive-pi0 / DriveMoE config computes the VLM prefix inputs in the pipeline, with the model's VLM,
    extra views and (DriveMoE) candidate views."""
    cfg = Config.fromfile(osp.join(REPO, path))
    found = list(_vlm_transforms(cfg))
    assert [loader for loader, _ in found] == ['train_dataloader', 'val_dataloader', 'test_dataloader'], path
    routed = list(cfg.model.get('candidate_views', [])) if cfg.model.type == 'DriveMoE' else []
    for loader, t in found:
        assert t['type'] == 'ProcessVLAPrefixInputs' and t['ue'] == cfg.model.mot.ue, f'{path}: {loader}'
        assert list(t.get('routed_views', [])) == routed, f'{path}: {loader}'
        assert list(t.get('extra_views', [])) == list(cfg.model.get('extra_views', [])), f'{path}: {loader}'


@pytest.mark.parametrize('path', sorted(p for p in CONFIGS if p.startswith(osp.join('projects', 'samoe', 'configs'))))
def test_samoe_configs_tokenise_the_instruction_in_the_pipeline(path):
    cfg = Config.fromfile(osp.join(REPO, path))
    found = list(_vlm_transforms(cfg))
    assert [loader for loader, _ in found] == ['train_dataloader', 'val_dataloader', 'test_dataloader'], path
    assert all(t['type'] == 'TokenizeInstruction' and t['ue'] == cfg.model.vlm for _, t in found), path
