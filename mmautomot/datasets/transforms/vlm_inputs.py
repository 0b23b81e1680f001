# Copyright (c) mmautomot contributors. All rights reserved.
"""The understanding expert's tokenised prompt and processed history frames, computed in the data pipeline."""

from typing import Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmautomot.registry import MODELS, TRANSFORMS
from mmautomot.structures import ue_user_text


@TRANSFORMS.register_module()
class ProcessVLMInputs(BaseTransform):
    """Tokenise the UE prompt and process the front-camera history as the model's UE does, in the pipeline.

    What ``AutoMoT.ue_inputs`` otherwise computes in ``forward`` at every step (the expert's ``prepare_inputs``:
    chat text, tokenizer, image placeholders, image processor) runs here, in the dataloader workers. The
    processor is built by ``BaseVLMExpert.build_processor`` (the expert without weights) from ``ue``, the
    model's UE config (share one config variable between ``model.mot.ue`` and this transform); the text is
    :func:`mmautomot.structures.ue_user_text` of the result's ``prompt`` (``BuildPlanningTargets``), else of
    ``command`` and ``ego_status[0]``, the same fallback the model uses.

    Place it after ``BuildPlanningTargets`` and before ``PackDrivingInputs`` (which packs ``vlm_inputs`` into
    ``inputs``). The model's UE right-pads and batches the samples (``BaseVLMExpert.collate_inputs``) into
    exactly the batch ``prepare_inputs`` gives for the whole batch.

    Required keys: ``img_hist`` (N, H, W, 3) uint8 RGB (oldest first), ``prompt`` or (``command``,
    ``ego_status``).
    Added keys: ``vlm_inputs`` dict of CPU tensors, batch size 1: ``input_ids``, ``attention_mask`` (1, L) long
    and the family's others (Qwen3-VL: ``mm_token_type_ids`` (1, L), ``pixel_values`` (N_patches, D),
    ``image_grid_thw`` (N, 3); PaliGemma: ``token_type_ids`` (1, L), ``pixel_values`` (N, 3, S, S); InternVL:
    ``pixel_values`` (N, 3, S, S)) and ``processor`` (str, the expert's ``processing_signature``: the model refuses
    inputs processed under another UE configuration).

    Args:
        ue (dict): the model's UE config (``model.mot.ue``).
        processor (object, optional): an already built expert (e.g. the model's own UE; ``Driver`` passes it)
            instead of building one from ``ue``. Defaults to None.
    """

    def __init__(self, ue: Optional[dict] = None, processor=None) -> None:
        if ue is None and processor is None:
            raise ValueError("ProcessVLMInputs: give `ue` (the model's UE config) or `processor`")
        self.ue = dict(ue) if ue is not None else None
        self._processor = processor

    @property
    def processor(self):
        """The expert that prepares the inputs (built on first use, so each worker builds its own)."""
        if self._processor is None:
            if 'type' not in self.ue:
                raise KeyError(f'ProcessVLMInputs: the ue config needs a type, got {self.ue}')
            expert_cls = MODELS.get(self.ue['type'])  # through the registry: datasets do not import models
            if expert_cls is None or not hasattr(expert_cls, 'build_processor'):
                raise KeyError(f'ProcessVLMInputs: {self.ue["type"]!r} is not a registered VLM expert')
            self._processor = expert_cls.build_processor(self.ue)
        return self._processor

    def __getstate__(self):  # workers rebuild the processor instead of unpickling a model
        state = dict(self.__dict__)
        if state.get('ue') is not None:
            state['_processor'] = None
        return state

    def transform(self, results: dict) -> dict:
        token = results.get('token', '<no token>')
        if 'img_hist' not in results:
            raise KeyError(f"sample {token!r}: ProcessVLMInputs needs 'img_hist' (put it after LoadFrontCamHistory)")
        hist = np.asarray(results['img_hist'])
        if hist.ndim != 4 or hist.shape[-1] != 3:
            raise ValueError(f"sample {token!r}: 'img_hist' must be (N, H, W, 3), got {hist.shape}")
        prompt = results.get('prompt')
        if not prompt and not ('command' in results and 'ego_status' in results):
            raise KeyError(f"sample {token!r}: ProcessVLMInputs needs 'prompt' or 'command' and 'ego_status'")
        text = ue_user_text(
            prompt,
            results.get('command', 0),
            float(np.asarray(results['ego_status'])[0]) if 'ego_status' in results else 0.0,
        )
        frames = torch.from_numpy(np.ascontiguousarray(hist.transpose(0, 3, 1, 2)))[None]
        with torch.no_grad():
            batch = self.processor.prepare_inputs(frames, [text], device='cpu')
        results['vlm_inputs'] = dict(batch, processor=self.processor.processing_signature())
        return results

    def __repr__(self) -> str:
        name = self.ue['type'] if self.ue is not None else type(self._processor).__name__
        return f'{type(self).__name__}(ue={name})'
