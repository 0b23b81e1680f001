# Copyright (c) mmautomot contributors. All rights reserved.
"""The understanding expert's tokenised prompt and processed history frames, computed in the data pipeline."""

from typing import Optional, Sequence

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

    def _frames(self, results: dict, key: str, loader: str) -> torch.Tensor:
        """``results[key]`` (N, H, W, 3) uint8 -> (N, 3, H, W) tensor."""
        token = results.get('token', '<no token>')
        if key not in results:
            raise KeyError(f'sample {token!r}: {type(self).__name__} needs {key!r} (put it after {loader})')
        arr = np.asarray(results[key])
        if arr.ndim != 4 or arr.shape[-1] != 3:
            raise ValueError(f'sample {token!r}: {key!r} must be (N, H, W, 3), got {arr.shape}')
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))

    def _text(self, results: dict) -> str:
        prompt = results.get('prompt')
        if not prompt and not ('command' in results and 'ego_status' in results):
            raise KeyError(
                f"sample {results.get('token', '<no token>')!r}: {type(self).__name__} needs 'prompt' or "
                "'command' and 'ego_status'"
            )
        return ue_user_text(
            prompt,
            results.get('command', 0),
            float(np.asarray(results['ego_status'])[0]) if 'ego_status' in results else 0.0,
        )

    def transform(self, results: dict) -> dict:
        frames = self._frames(results, 'img_hist', 'LoadFrontCamHistory')
        text = self._text(results)
        with torch.no_grad():
            batch = self.processor.prepare_inputs(frames[None], [text], device='cpu')
        results['vlm_inputs'] = dict(batch, processor=self.processor.processing_signature())
        return results

    def __repr__(self) -> str:
        name = self.ue['type'] if self.ue is not None else type(self._processor).__name__
        return f'{type(self).__name__}(ue={name})'


@TRANSFORMS.register_module()
class ProcessVLAPrefixInputs(ProcessVLMInputs):
    """:class:`ProcessVLMInputs` for the pi0 family's VLM prefix (``DrivePi0`` / ``DriveMoE``), in the pipeline.

    Paper: Yang et al., "DriveMoE" (Drive-pi0, after pi0). The prefix holds one image block per prefix image:
    the front history, then the fixed ``extra_views`` of ``imgs`` (Drive-pi0) or one routed view (DriveMoE,
    chosen by the model's camera router among ``routed_views``). What ``DrivePi0.ue_batch`` otherwise computes
    in ``forward`` (the token layout from ``prepare_inputs`` and the image processing of ``encode_images``)
    runs here; the model only batches the tensors and runs the vision encoder on them (``encode_pixels``).

    Required keys: ``img_hist`` (N_h, H, W, 3) uint8 RGB, ``imgs`` (V, H, W, 3) uint8 (with ``extra_views`` or
    ``routed_views``), ``prompt`` or (``command``, ``ego_status``).
    Added keys: ``vlm_inputs``: the :meth:`prepare_inputs` dict (batch size 1) of the prefix images
    ``img_hist + imgs[extra_views]`` (+ with ``routed_views`` one more slot: the token layout of the routed
    view, its ``pixel_values`` those of the current front frame, never encoded), ``view_pixel_values`` (and
    Qwen3-VL ``view_image_grid_thw``) of ``imgs[routed_views]`` (only with ``routed_views``), ``processor``.

    Args:
        ue (dict): the model's VLM config (``model.mot.ue``).
        processor (object, optional): an already built expert. Defaults to None.
        extra_views (Sequence[int]): the model's ``extra_views``. Defaults to ().
        routed_views (Sequence[int]): the model's ``candidate_views`` (DriveMoE); () for Drive-pi0. Defaults
            to ().
    """

    def __init__(
        self,
        ue: Optional[dict] = None,
        processor=None,
        extra_views: Sequence[int] = (),
        routed_views: Sequence[int] = (),
    ) -> None:
        super().__init__(ue=ue, processor=processor)
        self.extra_views = [int(v) for v in extra_views]
        self.routed_views = [int(v) for v in routed_views]
        if self.extra_views and self.routed_views:
            raise ValueError('ProcessVLAPrefixInputs: give extra_views (Drive-pi0) or routed_views (DriveMoE)')

    def _views(self, results: dict, imgs: torch.Tensor, index: list) -> torch.Tensor:
        bad = [v for v in index if not -len(imgs) <= v < len(imgs)]
        if bad:
            raise IndexError(
                f"sample {results.get('token', '<no token>')!r}: views {bad} out of range for 'imgs' of "
                f'{len(imgs)} cameras {results.get("cam_names")}'
            )
        return imgs[index]

    def transform(self, results: dict) -> dict:
        hist = self._frames(results, 'img_hist', 'LoadFrontCamHistory')
        frames = [hist]
        imgs = None
        if self.extra_views or self.routed_views:
            imgs = self._frames(results, 'imgs', 'LoadMultiViewImages')
        if self.extra_views:
            frames.append(self._views(results, imgs, self.extra_views))
        if self.routed_views:
            frames.append(hist[-1:])  # the routed view's slot: token layout only
        text = self._text(results)
        with torch.no_grad():
            batch = self.processor.prepare_inputs(torch.cat(frames)[None], [text], device='cpu')
            if self.routed_views:
                views = self.processor.process_images(self._views(results, imgs, self.routed_views))
                batch.update({f'view_{k}': v for k, v in views.items()})
        results['vlm_inputs'] = dict(batch, processor=self.processor.processing_signature())
        return results

    def __repr__(self) -> str:
        return f'{super().__repr__()[:-1]}, extra_views={self.extra_views}, routed_views={self.routed_views})'
