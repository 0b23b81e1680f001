# Copyright (c) mmautomot contributors. All rights reserved.
"""The understanding expert (UE): transformers' Qwen3-VL, prepared for the mixture-of-transformers loop."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmautomot.registry import MODELS
from mmautomot.structures import COMMANDS
from ..mot.joint_layers import mot_forward
from ..mot.prefix_kv_cache import PrefixKVCache
from ..mot.task_mask import build_task_mask
from .loading import build_qwen3vl
from .tokenizer import build_tokenizer

DEFAULT_SYSTEM_PROMPT = ('You are a driving assistant. You see the last front-camera frames of the ego '
                         'vehicle, oldest first, and know its navigation command and speed.')


def driving_prompt(command: int, speed: float) -> str:
    """The default UE user text: navigation command and ego speed (m/s)."""
    name = COMMANDS[int(command)].replace('_', ' ') if 0 <= int(command) < len(COMMANDS) else 'unknown'
    return f'Navigation command: {name}. Current speed: {float(speed):.1f} m/s.'


@MODELS.register_module()
class Qwen3VLUnderstandingExpert(BaseModule):
    """Qwen3-VL as the understanding expert of AutoMoT.

    Paper: AutoMoT (UE = Qwen3-VL-4B-Instruct, frozen by default) and Qwen3-VL (interleaved M-RoPE,
    DeepStack). The wrapped model is transformers' ``Qwen3VLForConditionalGeneration``; this class prepares
    its inputs itself (image processor, chat text with ``<|vision_start|><|image_pad|>*n<|vision_end|>`` per
    history frame, ``mm_token_type_ids``, M-RoPE position ids from ``get_rope_index``, placeholder masks,
    DeepStack features) so the decoder layers can run inside
    :func:`mmautomot.models.mot.joint_layers.mot_forward`, and answers free-text questions with
    ``generate`` (greedy, KV cache).

    Args:
        config (dict | None): ``Qwen3VLConfig`` kwargs (tiny random weights in tests).
        pretrained (str | None): local Qwen3-VL folder (``save_pretrained`` layout). Without ``config`` the
            folder's config is used; with it, weights are shape-checked against it.
        tokenizer (dict | str | None): TASK_UTILS config, local folder, or None (the pretrained folder's
            tokenizer, else :class:`ByteFallbackTokenizer` with the config's special ids).
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

    def __init__(self,
                 config: Optional[dict] = None,
                 pretrained: Optional[str] = None,
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
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.hf = build_qwen3vl(config, pretrained, torch_dtype)
        self.hf.lm_head._fsdp_no_wrap = True  # tied to the embedding (see mmautomot.models.mot.fsdp)
        cfg = self.hf.config
        self.image_size = tuple(int(s) for s in image_size)
        unit = cfg.vision_config.patch_size * cfg.vision_config.spatial_merge_size
        if self.image_size[0] % unit or self.image_size[1] % unit:
            raise ValueError(f'Qwen3VLUnderstandingExpert: image_size {self.image_size} must be multiples '
                             f'of patch_size * spatial_merge_size = {unit}')
        self.num_frames = num_frames
        self.system_prompt = system_prompt
        self.max_new_tokens = max_new_tokens
        self.tokenizer = build_tokenizer(tokenizer, pretrained, {
            '<|vision_start|>': cfg.vision_start_token_id,
            '<|vision_end|>': cfg.vision_end_token_id,
            '<|image_pad|>': cfg.image_token_id,
            '<|video_pad|>': cfg.video_token_id,
            **_other_special_ids(cfg)
        })
        self.image_processor = _build_image_processor(pretrained, cfg.vision_config, image_mean, image_std)
        self.frozen = freeze
        if freeze:
            self.hf.requires_grad_(False)
        if lora is not None:
            from peft import LoraConfig, get_peft_model
            self.hf = get_peft_model(self.hf, LoraConfig(**lora))

    # ------------------------------------------------------------------ geometry / sub-modules
    @property
    def core(self):
        """The transformers ``Qwen3VLForConditionalGeneration`` (unwrapped from peft if needed)."""
        return self.hf.get_base_model() if hasattr(self.hf, 'get_base_model') else self.hf

    @property
    def text_config(self):
        return self.core.config.text_config

    @property
    def layers(self) -> nn.ModuleList:
        return self.core.model.language_model.layers

    @property
    def rotary_emb(self) -> nn.Module:
        return self.core.model.language_model.rotary_emb

    @property
    def norm(self) -> nn.Module:
        return self.core.model.language_model.norm

    @property
    def head_geometry(self) -> Dict[str, int]:
        """``num_layers, num_heads, num_kv_heads, head_dim, hidden_size, rms_norm_eps`` of the text model."""
        t = self.text_config
        return dict(num_layers=t.num_hidden_layers, num_heads=t.num_attention_heads,
                    num_kv_heads=t.num_key_value_heads, head_dim=t.head_dim, hidden_size=t.hidden_size,
                    rms_norm_eps=t.rms_norm_eps)

    # ------------------------------------------------------------------ input preparation
    def chat_text(self, user_text: str) -> str:
        """Qwen chat text; ``{frames}`` in the user turn marks where the history frames go."""
        return (f'<|im_start|>system\n{self.system_prompt}<|im_end|>\n<|im_start|>user\n{{frames}}'
                f'{user_text}<|im_end|>\n<|im_start|>assistant\n')

    def _frames_to_list(self, img_hist) -> List[List[Tensor]]:
        """(B, N, 3, H, W) uint8 tensor, or a list (per sample) of (N, 3, H, W) / HWC numpy frames."""
        if isinstance(img_hist, Tensor):
            if img_hist.dim() == 4:
                img_hist = img_hist[None]
            if img_hist.dim() != 5 or img_hist.shape[2] != 3:
                raise ValueError('Qwen3VLUnderstandingExpert: img_hist must be (B, N, 3, H, W), got '
                                 f'{tuple(img_hist.shape)}')
            return [list(sample) for sample in img_hist]
        out = []
        for sample in img_hist:
            frames = []
            for f in sample:
                f = torch.as_tensor(np.asarray(f)) if not isinstance(f, Tensor) else f
                if f.dim() == 3 and f.shape[-1] == 3 and f.shape[0] != 3:
                    f = f.permute(2, 0, 1)
                frames.append(f)
            out.append(frames)
        return out

    def _resize(self, frame: Tensor) -> Tensor:
        frame = frame.float()
        if tuple(frame.shape[-2:]) != self.image_size:
            frame = F.interpolate(frame[None], size=self.image_size, mode='bilinear', align_corners=False,
                                  antialias=True)[0]
        return frame.clamp(0, 255).round().to(torch.uint8)

    def prepare_inputs(self, img_hist, texts: Sequence[str], device=None) -> Dict[str, Tensor]:
        """Tokenise chat texts with history frames into Qwen3-VL inputs (right padding).

        Args:
            img_hist: (B, N, 3, H, W) uint8 RGB frames (oldest first), or a per-sample list of frames.
            texts (Sequence[str]): B user texts (prompt / question).

        Returns:
            dict: ``input_ids`` (B, L) long, ``attention_mask`` (B, L), ``mm_token_type_ids`` (B, L) int
            (1 at image tokens), ``pixel_values`` (N_patches, C*T*P*P), ``image_grid_thw`` (B*N, 3).
        """
        frames = self._frames_to_list(img_hist)
        if len(frames) != len(texts):
            raise ValueError(f'Qwen3VLUnderstandingExpert: {len(frames)} image sets but {len(texts)} texts')
        flat = [self._resize(f) for sample in frames for f in sample]
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
            input_ids[i, :len(s)] = torch.tensor(s)
            attn[i, :len(s)] = 1
        mm_types = (input_ids == cfg.image_token_id).int()
        device = device or self.core.device
        return dict(input_ids=input_ids.to(device), attention_mask=attn.to(device),
                    mm_token_type_ids=mm_types.to(device),
                    pixel_values=proc['pixel_values'].to(device, self.core.dtype),
                    image_grid_thw=grid.to(device))

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
        position_ids, _ = model.get_rope_index(input_ids, batch['mm_token_type_ids'], batch['image_grid_thw'],
                                               attention_mask=batch['attention_mask'])
        next_position = position_ids.masked_fill(~valid[None], -1).amax(dim=(0, 2)) + 1
        return dict(hidden=hidden, position_ids=position_ids, rope=self.rotary_emb(hidden, position_ids),
                    valid=valid, next_position=next_position, visual_pos_masks=image_mask[..., 0],
                    deepstack=deepstack)

    def encode_images(self, frames: Tensor) -> Dict[str, Tensor]:
        """Run the vision encoder once on N same-size frames.

        Args:
            frames (Tensor): (N, 3, H, W) RGB, uint8 or float on the 0-255 scale (resized to ``image_size``).

        Returns:
            dict: ``embeds`` (N, n_tok, C) merged visual tokens, ``deepstack`` list of (N, n_tok, C) (one per
            DeepStack level); both usable as ``batch['image_features']`` of :meth:`embed`.
        """
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f'Qwen3VLUnderstandingExpert.encode_images: frames must be (N, 3, H, W), got '
                             f'{tuple(frames.shape)}')
        flat = [self._resize(f) for f in frames]
        proc = self.image_processor(images=flat, do_resize=False, return_tensors='pt')
        device = self.core.device
        img = self.core.model.get_image_features(proc['pixel_values'].to(device, self.core.dtype),
                                                 proc['image_grid_thw'].to(device))
        n = len(flat)
        return dict(embeds=torch.stack(list(img.pooler_output)).reshape(n, -1, self.text_config.hidden_size),
                    deepstack=[torch.stack(list(f)).reshape(n, -1, self.text_config.hidden_size)
                               for f in img.deepstack_features])

    # ------------------------------------------------------------------ running
    def new_cache(self, batch_size: int, capacity: int, dtype=None, device=None) -> PrefixKVCache:
        """Allocate a :class:`PrefixKVCache` with this model's geometry."""
        g = self.head_geometry
        return PrefixKVCache(g['num_layers'], batch_size, g['num_kv_heads'], g['head_dim'], capacity,
                             dtype=dtype or self.core.dtype, device=device or self.core.device)

    def forward(self, batch: Dict[str, Tensor], cache: Optional[PrefixKVCache] = None,
                tick: Optional[int] = None) -> Tensor:
        """Run the UE alone through the MoT layer loop (optionally filling ``cache``).

        Returns:
            Tensor: (B, L, C) final-normed hidden states.
        """
        emb = self.embed(batch)
        mask = build_task_mask(emb['valid'], ())
        if cache is not None:
            cache.begin_write(emb['valid'], emb['next_position'], tick)
        hidden, _ = mot_forward(self.layers, None, emb['hidden'], None, emb['rope'], None, mask,
                                emb['deepstack'], emb['visual_pos_masks'], cache,
                                'write' if cache is not None else None)
        return self.norm(hidden)

    @torch.no_grad()
    def answer(self, question: str, images, max_new_tokens: Optional[int] = None) -> str:
        """Answer a free-text question about the frames (greedy decoding with a KV cache).

        Args:
            question (str): e.g. 'What is your current action and why?'.
            images: (N, 3, H, W) uint8 tensor or a list of (H, W, 3) uint8 RGB numpy frames.
            max_new_tokens (int | None): defaults to ``self.max_new_tokens``.
        """
        batch = self.prepare_inputs([images], [question])
        out = self.core.generate(
            **batch, max_new_tokens=max_new_tokens or self.max_new_tokens, do_sample=False,
            eos_token_id=self.tokenizer.eos_token_id, pad_token_id=self.tokenizer.pad_token_id)
        return self.tokenizer.decode(out[0, batch['input_ids'].shape[1]:].tolist(), skip_special_tokens=True)


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
        patch_size=vision_cfg.patch_size, merge_size=vision_cfg.spatial_merge_size,
        temporal_patch_size=vision_cfg.temporal_patch_size, image_mean=list(mean), image_std=list(std))
