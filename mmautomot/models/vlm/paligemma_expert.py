# Copyright (c) mmautomot contributors. All rights reserved.
"""PaliGemma (SigLIP + Gemma) as an understanding expert of the mixture-of-transformers loop."""

from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor

from mmautomot.registry import MODELS

from .base_expert import BaseVLMExpert
from .loading import build_hf_vlm
from .presets import resolve_vlm_config


@MODELS.register_module()
class PaliGemmaUnderstandingExpert(BaseVLMExpert):
    """PaliGemma as the understanding expert (UE) of a mixture-of-transformers driving model.

    Paper: PaliGemma (Beyer et al., 2024; SigLIP so400m/14 + Gemma 2B) and pi0 / DriveMoE (Drive-pi0 joins
    PaliGemma-3B with a flow-matching action expert by joint attention). The wrapped model is transformers'
    ``PaliGemmaForConditionalGeneration``. Its input is PaliGemma's layout: ``<image>`` x 256 per frame
    (``(image_size / patch_size)^2`` tokens; several history frames in a row), ``<bos>``, the prompt and
    ``\\n``; the whole prompt (images + text) is the *prefix*, attended bidirectionally (prefix-LM), which
    :meth:`embed` exposes as ``prefix`` for :func:`build_task_mask`. Gemma specifics stay inside
    transformers' modules: the ``sqrt(hidden)`` embedding scale (``embed_tokens``), the ``(1 + w)`` RMSNorm
    and GeGLU FFN (decoder layers), 1-D RoPE (``rotary_emb``, 1-indexed positions as transformers' PaliGemma),
    multi-query attention (1 KV head) and no per-head q/k norm.

    Tensor contract: :meth:`prepare_inputs` -> ``input_ids`` / ``attention_mask`` / ``token_type_ids``
    (B, L) (right padding, ``token_type_ids`` 0 on the prefix, 1 on padding), ``pixel_values``
    (B * N, 3, S, S); :meth:`embed` -> see :class:`BaseVLMExpert`; ``forward`` -> (B, L, C) final-normed
    hidden states.

    Args:
        config (dict | None): ``PaliGemmaConfig`` kwargs, deep-merged over ``preset``.
        pretrained (str | None): local ``save_pretrained`` folder (config.json, safetensors, the processor's
            preprocessor_config.json and tokenizer files; an optional chat template). Loaded with
            ``from_pretrained`` / ``AutoProcessor.from_pretrained``; missing files are named in the error.
        preset (str | dict | None): 'paligemma-3b' (alias '3b'), 'tiny', or a config dict.
        tokenizer (dict | str | None): TASK_UTILS config, a local folder, or None (the pretrained folder's
            processor tokenizer, else :class:`ByteFallbackTokenizer` with the config's pad/eos/bos/image ids).
        num_frames (int): front-camera history frames per sample. Defaults to 4.
        image_mean / image_std (tuple[float]): SigLIP pixel normalisation when there is no processor.
            Defaults to 0.5 / 0.5.
        system_prompt (str): text put before the user text (one line). Defaults to ''.
        freeze (bool): freeze all UE weights. Defaults to True.
        lora (dict | None): ``peft.LoraConfig`` kwargs; LoRA adapters are trainable even when frozen.
        torch_dtype (str | None): parameter dtype. Defaults to None (float32).
        max_new_tokens (int): default answer length. Defaults to 64.
        init_cfg (dict | None): mmengine init config.
    """

    def __init__(
        self,
        config: Optional[dict] = None,
        pretrained: Optional[str] = None,
        preset: Union[str, dict, None] = None,
        tokenizer=None,
        num_frames: int = 4,
        image_mean: Sequence[float] = (0.5, 0.5, 0.5),
        image_std: Sequence[float] = (0.5, 0.5, 0.5),
        system_prompt: str = '',
        freeze: bool = True,
        lora: Optional[dict] = None,
        torch_dtype: Optional[str] = None,
        max_new_tokens: int = 64,
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(init_cfg=init_cfg)
        from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration, SiglipImageProcessor

        need = ('config', 'weights', 'processor') + (('tokenizer',) if tokenizer is None else ())
        self.hf = build_hf_vlm(
            PaliGemmaForConditionalGeneration,
            PaliGemmaConfig,
            resolve_vlm_config('paligemma', preset, config),
            pretrained,
            torch_dtype,
            owner='PaliGemmaUnderstandingExpert',
            need=need,
        )
        cfg = self.core.config
        vis = cfg.vision_config
        self.image_size = (vis.image_size, vis.image_size)
        self.tokens_per_image = (vis.image_size // vis.patch_size) ** 2
        self.num_frames = num_frames
        self.system_prompt = system_prompt
        self.max_new_tokens = max_new_tokens
        text = cfg.text_config
        self._setup_processing(
            pretrained,
            tokenizer,
            {
                '<pad>': text.pad_token_id,
                '<eos>': text.eos_token_id,
                '<bos>': text.bos_token_id,
                '<image>': cfg.image_token_id,
            },
            '<eos>',
            '<pad>',
            lambda: SiglipImageProcessor(
                size=dict(height=vis.image_size, width=vis.image_size),
                image_mean=list(image_mean),
                image_std=list(image_std),
            ),
        )
        bos = getattr(self.tokenizer, 'bos_token_id', None)
        self.bos_token_id = text.bos_token_id if bos is None else bos
        self._setup_training(freeze, lora)

    # ------------------------------------------------------------------ input preparation
    def prompt_text(self, user_text: str) -> str:
        """The prompt after ``<bos>`` (without the trailing ``\\n``): the folder's chat template when it has
        one, else ``system_prompt`` and the user text on two lines."""
        text = f'{self.system_prompt}\n{user_text}' if self.system_prompt else user_text
        chat = self.render_chat(text)
        return text if chat is None else chat

    def prefix_ids(self, num_images: int, user_text: str) -> List[int]:
        """Token ids of one sample: ``<image>`` x (tokens per image x frames), ``<bos>``, prompt, ``\\n``."""
        tokenizer = self.require_tokenizer()
        image = [self.core.config.image_token_id] * (self.tokens_per_image * num_images)
        return image + [self.bos_token_id] + tokenizer.encode(self.prompt_text(user_text) + '\n')

    def prepare_inputs(self, img_hist, texts: Sequence[str], device=None) -> Dict[str, Tensor]:
        """Tokenise prompts with history frames into PaliGemma inputs (right padding).

        Args:
            img_hist: (B, N, 3, H, W) uint8 RGB frames (oldest first), or a per-sample list of frames.
            texts (Sequence[str]): B user texts (prompt / question).

        Returns:
            dict: ``input_ids``, ``attention_mask``, ``token_type_ids`` (B, L) long, ``pixel_values``
            (B * N, 3, S, S).
        """
        frames = self.frames_to_list(img_hist)
        if len(frames) != len(texts):
            raise ValueError(f'PaliGemmaUnderstandingExpert: {len(frames)} image sets but {len(texts)} texts')
        flat = [self.resize(f) for sample in frames for f in sample]
        pixels = self.image_processor(images=flat, do_resize=False, return_tensors='pt')['pixel_values']
        seqs = [self.prefix_ids(len(sample), text) for sample, text in zip(frames, texts)]
        input_ids, attn = self.right_pad(seqs)
        device = device or self.core.device
        return dict(
            input_ids=input_ids.to(device),
            attention_mask=attn.to(device),
            token_type_ids=(1 - attn).to(device),
            pixel_values=pixels.to(device, self.core.dtype),
        )

    def encode_images(self, frames: Tensor) -> Dict[str, object]:
        """Run SIGLIP and the projector once on N same-size frames.

        Args:
            frames (Tensor): (N, 3, H, W) RGB, uint8 or float on the 0-255 scale (resized to ``image_size``).

        Returns:
            dict: ``embeds`` (N, n_tok, C) projected image tokens and ``deepstack`` (empty: PaliGemma has none),
            usable as ``batch['image_features']`` of :meth:`embed` (e.g. DriveMoE encoding only a routed view).
        """
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(
                f'PaliGemmaUnderstandingExpert.encode_images: frames must be (N, 3, H, W), got {tuple(frames.shape)}'
            )
        return self.encode_pixels(**self.process_images(frames))

    def process_images(self, frames) -> Dict[str, Tensor]:
        """(N, 3, H, W) frames (0-255) -> ``pixel_values`` (N, 3, S, S) (CPU), the input of
        :meth:`encode_pixels` (what ``prepare_inputs`` computes for the same frames; the data pipeline calls
        it, see ``ProcessVLAPrefixInputs``)."""
        flat = [self.resize(f) for f in frames]
        pixels = self.image_processor(images=flat, do_resize=False, return_tensors='pt')['pixel_values']
        return dict(pixel_values=pixels)

    def encode_pixels(self, pixel_values: Tensor) -> Dict[str, object]:
        """SIGLIP and the projector on processed images (:meth:`process_images`): ``embeds`` (N, n_tok, C),
        ``deepstack`` [] , as :meth:`encode_images`."""
        feats = self.core.model.get_image_features(pixel_values.to(self.core.device, self.core.dtype)).pooler_output
        return dict(embeds=feats, deepstack=[])

    def embed(self, batch: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Input embeddings (image features scattered into ``<image>`` slots), 1-D RoPE, prefix block.

        ``batch['image_features']`` (optional, from :meth:`encode_images`, images in the batch's order) replaces
        running the vision tower on ``pixel_values``.

        Returns:
            dict: ``hidden`` (B, L, C), ``position_ids`` (B, L) (1-indexed), ``rope`` (cos, sin) each
            (B, L, D), ``valid`` (B, L) bool, ``prefix`` (B, L) bool (valid tokens of token type 0),
            ``next_position`` (B,) (one past the last valid position).
        """
        model = self.core.model
        input_ids = batch['input_ids']
        image_id = self.core.config.image_token_id
        llm_ids = input_ids.masked_fill(input_ids == image_id, 0) if image_id >= model.vocab_size else input_ids
        hidden = model.get_input_embeddings()(llm_ids)
        if batch.get('image_features') is not None:  # precomputed by encode_images (e.g. a routed view)
            feats = batch['image_features']['embeds'].to(hidden.device, hidden.dtype)
        else:
            feats = model.get_image_features(batch['pixel_values']).pooler_output.to(hidden.device, hidden.dtype)
        image_mask = model.get_placeholder_mask(input_ids, inputs_embeds=hidden, image_features=feats)
        hidden = hidden.masked_scatter(image_mask, feats)
        valid = batch['attention_mask'].bool()
        token_type = batch.get('token_type_ids')
        prefix = valid if token_type is None else valid & (token_type == 0)
        bsz, length = input_ids.shape
        position_ids = torch.arange(1, length + 1, device=input_ids.device)[None].expand(bsz, -1)
        next_position = position_ids.masked_fill(~valid, 0).amax(dim=1) + 1
        return dict(
            hidden=hidden,
            position_ids=position_ids,
            rope=self.text_rope(hidden, position_ids),
            valid=valid,
            prefix=prefix,
            next_position=next_position,
        )
