# Copyright (c) mmautomot contributors. All rights reserved.
"""The understanding expert (UE): transformers' Qwen3-VL, prepared for the mixture-of-transformers loop."""

import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor

from mmautomot.registry import MODELS
from mmautomot.structures import driving_prompt  # noqa: F401 (re-exported: its old home)

from ..mot.prefix_kv_cache import PrefixKVCache
from .base_expert import BaseVLMExpert
from .loading import build_qwen3vl
from .presets import resolve_vlm_config
from .tokenizer import MissingTokenizer, build_tokenizer

DEFAULT_SYSTEM_PROMPT = (
    'You are a driving assistant. You see the last front-camera frames of the ego '
    'vehicle, oldest first, and know its navigation command and speed.'
)


@MODELS.register_module()
class Qwen3VLUnderstandingExpert(BaseVLMExpert):
    """Qwen3-VL as the understanding expert of AutoMoT.

    Paper: AutoMoT (UE = Qwen3-VL-4B-Instruct, frozen by default) and Qwen3-VL (interleaved M-RoPE,
    DeepStack). The wrapped model is transformers' ``Qwen3VLForConditionalGeneration``; this class prepares
    its inputs itself (image processor, chat text with ``<|vision_start|><|image_pad|>*n<|vision_end|>`` per
    history frame, ``mm_token_type_ids``, M-RoPE position ids from ``get_rope_index``, placeholder masks,
    DeepStack features) so the decoder layers can run inside
    :func:`mmautomot.models.mot.joint_layers.mot_forward`, and answers free-text questions with
    ``generate`` (greedy, KV cache).

    Args:
        config (dict | None): ``Qwen3VLConfig`` kwargs; with ``preset`` they are deep-merged over it.
        preset (str | dict | None): a named config of :data:`mmautomot.models.vlm.presets.VLM_PRESETS`
            (``'4b'``, ``'small'``, ``'tiny'``) or a ``Qwen3VLConfig`` dict.
        pretrained (str | None): local Qwen3-VL folder (``save_pretrained`` layout), loaded with
            ``from_pretrained``; its tokenizer, chat template and preprocessor_config.json are used when present.
            Without ``config`` / ``preset`` the folder's config is used; with one, weights are shape-checked.
        tokenizer (dict | str | None): TASK_UTILS config, local folder, or None: the pretrained folder's
            tokenizer (a folder without tokenizer files raises, naming it); :class:`ByteFallbackTokenizer` with
            the config's special ids only without ``pretrained`` (random-weight test models).
        image_size (tuple[int, int]): (H, W) each history frame is resized to; multiples of
            ``patch_size * spatial_merge_size``. Defaults to (256, 512).
        num_frames (int): front-camera history frames. Defaults to 4.
        image_mean / image_std (tuple[float]): pixel normalisation when no processor config is found.
            Defaults to 0.5 / 0.5 (Qwen3-VL's).
        system_prompt (str): system message.
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
        image_size: Sequence[int] = (256, 512),
        num_frames: int = 4,
        image_mean: Sequence[float] = (0.5, 0.5, 0.5),
        image_std: Sequence[float] = (0.5, 0.5, 0.5),
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        freeze: bool = True,
        lora: Optional[dict] = None,
        torch_dtype: Optional[str] = None,
        max_new_tokens: int = 64,
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(init_cfg=init_cfg)
        self.hf = build_qwen3vl(resolve_vlm_config('qwen3vl', preset, config), pretrained, torch_dtype)
        cfg = self.hf.config
        self.image_size = tuple(int(s) for s in image_size)
        unit = cfg.vision_config.patch_size * cfg.vision_config.spatial_merge_size
        if self.image_size[0] % unit or self.image_size[1] % unit:
            raise ValueError(
                f'Qwen3VLUnderstandingExpert: image_size {self.image_size} must be multiples '
                f'of patch_size * spatial_merge_size = {unit}'
            )
        self.num_frames = num_frames
        self.system_prompt = system_prompt
        self.max_new_tokens = max_new_tokens
        self.tokenizer = build_tokenizer(
            tokenizer,
            pretrained,
            {
                '<|vision_start|>': cfg.vision_start_token_id,
                '<|vision_end|>': cfg.vision_end_token_id,
                '<|image_pad|>': cfg.image_token_id,
                '<|video_pad|>': cfg.video_token_id,
                **_other_special_ids(cfg),
            },
            meta=self.hf.lm_head.weight.device.type == 'meta',
        )
        self.image_processor = _build_image_processor(pretrained, cfg.vision_config, image_mean, image_std)
        self.chat_template = (
            None
            if isinstance(self.tokenizer, MissingTokenizer)
            # a meta build's placeholder
            else getattr(getattr(self.tokenizer, 'tok', None), 'chat_template', None)
        )
        self._setup_training(freeze, lora)

    def text_rope(self, hidden: Tensor, positions: Tensor):
        """M-RoPE ``(cos, sin)`` for 1-D positions (B, L): text tokens use the same id on all 3 axes."""
        return self.rotary_emb(hidden, positions[None].expand(3, -1, -1))

    # ------------------------------------------------------------------ input preparation
    def chat_text(self, user_text: str) -> str:
        """Qwen chat text; ``{frames}`` in the user turn marks where the history frames go. A tokenizer with a
        chat template (a local Qwen3-VL folder) renders it; else Qwen's layout is written here."""
        chat = self.render_chat('{frames}' + user_text, self.system_prompt)
        if chat is not None:
            return chat
        return (
            f'<|im_start|>system\n{self.system_prompt}<|im_end|>\n<|im_start|>user\n{{frames}}'
            f'{user_text}<|im_end|>\n<|im_start|>assistant\n'
        )

    def prepare_inputs(self, img_hist, texts: Sequence[str], device=None) -> Dict[str, Tensor]:
        """Tokenise chat texts with history frames into Qwen3-VL inputs (right padding).

        Args:
            img_hist: (B, N, 3, H, W) uint8 RGB frames (oldest first), or a per-sample list of frames.
            texts (Sequence[str]): B user texts (prompt / question).

        Returns:
            dict: ``input_ids`` (B, L) long, ``attention_mask`` (B, L), ``mm_token_type_ids`` (B, L) int
            (1 at image tokens), ``pixel_values`` (N_patches, C*T*P*P), ``image_grid_thw`` (B*N, 3).
        """
        frames = self.frames_to_list(img_hist)
        if len(frames) != len(texts):
            raise ValueError(f'Qwen3VLUnderstandingExpert: {len(frames)} image sets but {len(texts)} texts')
        flat = [self.resize(f) for sample in frames for f in sample]
        proc = self.image_processor(images=flat, do_resize=False, return_tensors='pt')
        grid = proc['image_grid_thw']
        merge = self.core.config.vision_config.spatial_merge_size**2
        cfg = self.core.config
        seqs, k = [], 0
        for sample, text in zip(frames, texts):
            before, after = self.chat_text(text).split('{frames}')
            ids = self.tokenizer.encode(before)
            for _ in sample:
                n_tok = int(grid[k].prod()) // merge
                ids += [cfg.vision_start_token_id] + [cfg.image_token_id] * n_tok + [cfg.vision_end_token_id]
                k += 1
            seqs.append(ids + self.tokenizer.encode(after))
        length = max(len(s) for s in seqs)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(seqs), length), pad, dtype=torch.long)
        attn = torch.zeros((len(seqs), length), dtype=torch.long)
        for i, s in enumerate(seqs):
            input_ids[i, : len(s)] = torch.tensor(s)
            attn[i, : len(s)] = 1
        mm_types = (input_ids == cfg.image_token_id).int()
        device = device or self.core.device
        return dict(
            input_ids=input_ids.to(device),
            attention_mask=attn.to(device),
            mm_token_type_ids=mm_types.to(device),
            pixel_values=proc['pixel_values'].to(device, self.core.dtype),
            image_grid_thw=grid.to(device),
        )

    def embed(self, batch: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Input embeddings, M-RoPE positions and DeepStack features, exactly as transformers' Qwen3-VL.

        ``batch['image_features']`` (optional, from :meth:`encode_images`, images in the batch's order)
        replaces the vision encoder call, so a caller can encode, select or modify images itself.

        Returns:
            dict: ``hidden`` (B, L, C), ``position_ids`` (3, B, L), ``rope`` (cos, sin) each (B, L, D),
            ``valid`` (B, L) bool, ``next_position`` (B,) (first AE rotary position),
            ``visual_pos_masks`` (B, L) bool, ``deepstack`` list of (N_vis, C).
        """
        model = self.core.model
        input_ids = batch['input_ids']
        hidden = model.get_input_embeddings()(input_ids)
        if batch.get('image_features') is not None:  # precomputed by encode_images (e.g. a routed view)
            feats = batch['image_features']
            image_embeds = feats['embeds'].flatten(0, 1).to(hidden.device, hidden.dtype)
            deepstack = [f.flatten(0, 1) for f in feats['deepstack']]
        else:
            img = model.get_image_features(batch['pixel_values'], batch['image_grid_thw'])
            image_embeds = torch.cat(img.pooler_output, dim=0).to(hidden.device, hidden.dtype)
            deepstack = [torch.cat(f, dim=0) for f in img.deepstack_features]
        image_mask, _ = model.get_placeholder_mask(input_ids, inputs_embeds=hidden, image_features=image_embeds)
        hidden = hidden.masked_scatter(image_mask, image_embeds)
        valid = batch['attention_mask'].bool()
        position_ids, _ = model.get_rope_index(
            input_ids, batch['mm_token_type_ids'], batch['image_grid_thw'], attention_mask=batch['attention_mask']
        )
        next_position = position_ids.masked_fill(~valid[None], -1).amax(dim=(0, 2)) + 1
        return dict(
            hidden=hidden,
            position_ids=position_ids,
            rope=self.rotary_emb(hidden, position_ids),
            valid=valid,
            next_position=next_position,
            visual_pos_masks=image_mask[..., 0],
            deepstack=deepstack,
        )

    def encode_images(self, frames: Tensor) -> Dict[str, Tensor]:
        """Run the vision encoder once on N same-size frames.

        Args:
            frames (Tensor): (N, 3, H, W) RGB, uint8 or float on the 0-255 scale (resized to ``image_size``).

        Returns:
            dict: ``embeds`` (N, n_tok, C) merged visual tokens, ``deepstack`` list of (N, n_tok, C) (one per
            DeepStack level); both usable as ``batch['image_features']`` of :meth:`embed`.
        """
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(
                f'Qwen3VLUnderstandingExpert.encode_images: frames must be (N, 3, H, W), got {tuple(frames.shape)}'
            )
        return self.encode_pixels(**self.process_images(frames))

    def process_images(self, frames) -> Dict[str, Tensor]:
        """(N, 3, H, W) frames (0-255) -> the image processor's ``pixel_values`` (N * P, D) and
        ``image_grid_thw`` (N, 3) (CPU), the input of :meth:`encode_pixels` (what ``prepare_inputs`` computes
        for the same frames; the data pipeline calls it, see ``ProcessVLAPrefixInputs``)."""
        proc = self.image_processor(images=[self.resize(f) for f in frames], do_resize=False, return_tensors='pt')
        return dict(pixel_values=proc['pixel_values'], image_grid_thw=proc['image_grid_thw'])

    def encode_pixels(self, pixel_values: Tensor, image_grid_thw: Tensor) -> Dict[str, Tensor]:
        """The vision encoder on processed images (:meth:`process_images`): ``embeds`` (N, n_tok, C),
        ``deepstack`` list of (N, n_tok, C), as :meth:`encode_images`."""
        device = self.core.device
        img = self.core.model.get_image_features(pixel_values.to(device, self.core.dtype), image_grid_thw.to(device))
        n = image_grid_thw.shape[0]
        return dict(
            embeds=torch.stack(list(img.pooler_output)).reshape(n, -1, self.text_config.hidden_size),
            deepstack=[
                torch.stack(list(f)).reshape(n, -1, self.text_config.hidden_size) for f in img.deepstack_features
            ],
        )

    def question_ids(self, question: str, context: str = '') -> List[int]:
        """Tokens that follow a cached driving prefix to ask ``question``.

        The driving prefix (:meth:`chat_text`) ends with an open, empty assistant turn; these tokens close
        it and add a user turn with ``context`` (e.g. :func:`driving_prompt` of the current tick) and the
        question, then open the assistant turn the answer is generated in.
        """
        user = f'{context} {question}' if context else question
        return self.tokenizer.encode(f'<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n')

    @torch.no_grad()
    def answer_from_cache(
        self, cache: PrefixKVCache, token_ids: Sequence[int], max_new_tokens: Optional[int] = None
    ) -> List[int]:
        """Greedy decoding that continues a filled driving prefix cache (no vision tower, no prefill).

        The UE's keys/values depend only on the UE tokens (causal among themselves, never on AE tokens),
        so appending ``token_ids`` after the cached prefix is exactly the continuation of the full token
        sequence ``prefix + token_ids``. The cache is copied into a transformers ``DynamicCache`` and left
        unchanged; the text tokens get M-RoPE position ``cache.next_position + i`` in all three sections.

        Args:
            cache (PrefixKVCache): a filled cache of batch size 1 (e.g. ``Driver``'s last UE refresh).
            token_ids (Sequence[int]): tokens appended after the prefix (:meth:`question_ids`).
            max_new_tokens (int | None): defaults to ``self.max_new_tokens``.

        Returns:
            list[int]: the generated token ids, up to and including the end-of-turn token.
        """
        from transformers import DynamicCache

        if cache.length == 0 or cache.batch_size != 1:
            raise ValueError(
                f'answer_from_cache needs a filled cache of batch size 1, got batch '
                f'{cache.batch_size} with {cache.length} tokens'
            )
        if not bool(cache.valid().all()):
            raise ValueError('answer_from_cache: the cached prefix has padding tokens')
        if len(token_ids) == 0:
            raise ValueError('answer_from_cache: no tokens to append after the prefix')
        kv = DynamicCache(config=self.core.config)
        for i in range(cache.num_layers):
            key, value = cache.get(i)
            kv.update(key.clone(), value.clone(), i)
        lm = self.core.model.language_model
        device = cache.keys[0].device
        ids = torch.tensor([list(token_ids)], dtype=torch.long, device=device)
        seq_pos, rope_pos = cache.length, int(cache.next_position[0])
        out: List[int] = []
        for _ in range(max_new_tokens or self.max_new_tokens):
            n = ids.shape[1]
            steps = torch.arange(n, device=device)
            position_ids = torch.stack([seq_pos + steps] + [rope_pos + steps] * 3)[:, None]  # (4, 1, n)
            hidden = lm(input_ids=ids, position_ids=position_ids, past_key_values=kv, use_cache=True)
            next_id = int(self.core.lm_head(hidden.last_hidden_state[:, -1]).argmax(-1))
            out.append(next_id)
            if next_id == self.tokenizer.eos_token_id:
                break
            seq_pos, rope_pos = seq_pos + n, rope_pos + n
            ids = torch.tensor([[next_id]], dtype=torch.long, device=device)
        return out


def _other_special_ids(cfg) -> Dict[str, int]:
    """Ids of the non-vision Qwen special tokens for the fallback tokenizer (just above the vision ids)."""
    base = max(cfg.vision_start_token_id, cfg.vision_end_token_id, cfg.image_token_id, cfg.video_token_id)
    return {'<|endoftext|>': base + 1, '<|im_start|>': base + 2, '<|im_end|>': base + 3}


def _build_image_processor(pretrained, vision_cfg, mean, std):
    """transformers' Qwen2-VL image processor: the folder's config if present, else from the config."""
    if pretrained is not None and osp.isfile(osp.join(pretrained, 'preprocessor_config.json')):
        from transformers import AutoImageProcessor

        return AutoImageProcessor.from_pretrained(pretrained, local_files_only=True)
    from transformers import Qwen2VLImageProcessor

    return Qwen2VLImageProcessor(
        patch_size=vision_cfg.patch_size,
        merge_size=vision_cfg.spatial_merge_size,
        temporal_patch_size=vision_cfg.temporal_patch_size,
        image_mean=list(mean),
        image_std=list(std),
    )
