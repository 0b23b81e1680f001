# Copyright (c) mmautomot contributors. All rights reserved.
"""InternVL (InternViT + a Qwen2/Qwen3 text model) as an understanding expert of the MoT loop."""

from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor

from mmautomot.registry import MODELS

from .base_expert import BaseVLMExpert
from .loading import build_hf_vlm
from .presets import resolve_vlm_config

# Byte-level special ids of the tiny preset (ByteFallbackTokenizer); '<IMG_CONTEXT>' is its image_token_id.
INTERNVL_TINY_SPECIAL_TOKENS = {
    '<|endoftext|>': 256,
    '<|im_start|>': 257,
    '<|im_end|>': 258,
    '<img>': 259,
    '</img>': 260,
    '<IMG_CONTEXT>': 261,
}


@MODELS.register_module()
class InternVLUnderstandingExpert(BaseVLMExpert):
    """InternVL as the understanding expert (UE) of a mixture-of-transformers driving model.

    Paper: InternVL 2.5 / 3 (Chen et al.; InternViT, pixel-shuffle 0.5 + MLP projector, a Qwen2.5 / Qwen3 text
    model). The wrapped model is transformers' ``InternVLForConditionalGeneration``. Each history frame is one
    448-px tile (no dynamic tiling): ``<img>`` + ``<IMG_CONTEXT>`` x ``image_seq_length`` + ``</img>`` and a
    newline, inside a Qwen chat turn (or the folder's chat template). The text model is causal with 1-D RoPE
    (0-indexed positions, as transformers' InternVL), so :meth:`embed` has no ``prefix`` and no DeepStack.

    Tensor contract: :meth:`prepare_inputs` -> ``input_ids`` / ``attention_mask`` (B, L) (right padding),
    ``pixel_values`` (B * N, 3, S, S); :meth:`embed` -> see :class:`BaseVLMExpert`.

    Args:
        config (dict | None): ``InternVLConfig`` kwargs, deep-merged over ``preset``.
        pretrained (str | None): local ``save_pretrained`` folder (config, safetensors, processor, tokenizer,
            optional chat template); missing files are named in the error.
        preset (str | dict | None): 'internvl3-1b' (alias '1b'), 'tiny', or a config dict.
        tokenizer (dict | str | None): TASK_UTILS config, a local folder, or None (the folder's, else a
            :class:`ByteFallbackTokenizer` with ``special_tokens``).
        special_tokens (dict[str, int] | None): byte-tokenizer ids of '<|endoftext|>', '<|im_start|>',
            '<|im_end|>', '<img>', '</img>', '<IMG_CONTEXT>'. Defaults to the tiny preset's.
        num_frames (int): front-camera history frames per sample. Defaults to 4.
        image_mean / image_std (tuple[float]): pixel normalisation without a processor (ImageNet's).
        system_prompt (str): system message ('' = none). Defaults to ''.
        freeze (bool): freeze all UE weights. Defaults to True.
        lora (dict | None): ``peft.LoraConfig`` kwargs.
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
        special_tokens: Optional[Dict[str, int]] = None,
        num_frames: int = 4,
        image_mean: Sequence[float] = (0.485, 0.456, 0.406),
        image_std: Sequence[float] = (0.229, 0.224, 0.225),
        system_prompt: str = '',
        freeze: bool = True,
        lora: Optional[dict] = None,
        torch_dtype: Optional[str] = None,
        max_new_tokens: int = 64,
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(init_cfg=init_cfg)
        from transformers import GotOcr2ImageProcessor, InternVLConfig, InternVLForConditionalGeneration

        need = ('config', 'weights', 'processor') + (('tokenizer',) if tokenizer is None else ())
        self.hf = build_hf_vlm(
            InternVLForConditionalGeneration,
            InternVLConfig,
            resolve_vlm_config('internvl', preset, config),
            pretrained,
            torch_dtype,
            owner='InternVLUnderstandingExpert',
            need=need,
        )
        cfg = self.core.config
        size = cfg.vision_config.image_size
        self.image_size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
        self.tokens_per_image = cfg.image_seq_length
        self.num_frames = num_frames
        self.system_prompt = system_prompt
        self.max_new_tokens = max_new_tokens
        # a byte-level tokenizer only fits a tiny random-weight model (a vocabulary of bytes + a few specials)
        specials = dict(special_tokens or INTERNVL_TINY_SPECIAL_TOKENS, **{'<IMG_CONTEXT>': cfg.image_token_id})
        byte_vocab = cfg.text_config.vocab_size <= 1024
        self._setup_processing(
            pretrained,
            tokenizer,
            specials if byte_vocab else None,
            '<|im_end|>',
            '<|endoftext|>',
            lambda: GotOcr2ImageProcessor(
                size=dict(height=self.image_size[0], width=self.image_size[1]),
                crop_to_patches=False,
                image_mean=list(image_mean),
                image_std=list(image_std),
            ),
            hf_eos_token='<|im_end|>',
        )
        proc = self.processor
        self.image_tokens = (
            getattr(proc, 'start_image_token', '<img>'),
            getattr(proc, 'image_token', '<IMG_CONTEXT>'),
            getattr(proc, 'end_image_token', '</img>'),
        )
        self._setup_training(freeze, lora)

    # ------------------------------------------------------------------ input preparation
    def chat_text(self, user_text: str) -> str:
        """The chat text; ``{frames}`` in the user turn marks where the history frames go."""
        chat = self.render_chat('{frames}' + user_text)
        if chat is not None:
            return chat
        system = f'<|im_start|>system\n{self.system_prompt}<|im_end|>\n' if self.system_prompt else ''
        return f'{system}<|im_start|>user\n{{frames}}{user_text}<|im_end|>\n<|im_start|>assistant\n'

    def sample_ids(self, num_images: int, user_text: str) -> List[int]:
        """Token ids of one sample (``<img><IMG_CONTEXT> x n</img>\\n`` per frame in the user turn)."""
        tokenizer = self.require_tokenizer()
        start, context, end = self.image_tokens
        frames = (start + context * self.tokens_per_image + end + '\n') * num_images
        return tokenizer.encode(self.chat_text(user_text).replace('{frames}', frames))

    def prepare_inputs(self, img_hist, texts: Sequence[str], device=None) -> Dict[str, Tensor]:
        """Tokenise chat texts with history frames into InternVL inputs (right padding).

        Returns:
            dict: ``input_ids``, ``attention_mask`` (B, L) long, ``pixel_values`` (B * N, 3, S, S).
        """
        frames = self.frames_to_list(img_hist)
        if len(frames) != len(texts):
            raise ValueError(f'InternVLUnderstandingExpert: {len(frames)} image sets but {len(texts)} texts')
        flat = [self.resize(f) for sample in frames for f in sample]
        pixels = self.image_processor(images=flat, do_resize=False, crop_to_patches=False, return_tensors='pt')[
            'pixel_values'
        ]
        input_ids, attn = self.right_pad([self.sample_ids(len(s), t) for s, t in zip(frames, texts)])
        device = device or self.core.device
        return dict(
            input_ids=input_ids.to(device),
            attention_mask=attn.to(device),
            pixel_values=pixels.to(device, self.core.dtype),
        )

    def embed(self, batch: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Input embeddings (pixel-shuffled InternViT features in the ``<IMG_CONTEXT>`` slots), 1-D RoPE.

        Returns:
            dict: ``hidden`` (B, L, C), ``position_ids`` (B, L) (0-indexed), ``rope`` (cos, sin) each
            (B, L, D), ``valid`` (B, L) bool, ``next_position`` (B,) (the number of valid tokens).
        """
        model, cfg = self.core.model, self.core.config
        input_ids = batch['input_ids']
        hidden = model.get_input_embeddings()(input_ids)
        feats = model.get_image_features(
            pixel_values=batch['pixel_values'],
            vision_feature_layer=cfg.vision_feature_layer,
            vision_feature_select_strategy=cfg.vision_feature_select_strategy,
            return_dict=True,
        ).pooler_output
        feats = feats.to(hidden.device, hidden.dtype)
        image_mask = model.get_placeholder_mask(input_ids, inputs_embeds=hidden, image_features=feats)
        hidden = hidden.masked_scatter(image_mask, feats)
        valid = batch['attention_mask'].bool()
        bsz, length = input_ids.shape
        position_ids = torch.arange(length, device=input_ids.device)[None].expand(bsz, -1)
        return dict(
            hidden=hidden,
            position_ids=position_ids,
            rope=self.text_rope(hidden, position_ids),
            valid=valid,
            next_position=valid.sum(1),
        )
