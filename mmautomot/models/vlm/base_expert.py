# Copyright (c) mmautomot contributors. All rights reserved.
"""The interface every vision-language understanding expert (UE) of a mixture-of-transformers model meets."""

import hashlib
import os.path as osp
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from ..mot.joint_layers import mot_forward
from ..mot.prefix_kv_cache import PrefixKVCache
from ..mot.task_mask import build_task_mask
from .tokenizer import ByteFallbackTokenizer, HFTokenizer, MissingTokenizer, build_tokenizer


class BaseVLMExpert(BaseModule):
    """Base class of the VLM understanding experts (UE) that :class:`MoTTransformer` joins with an action expert.

    Paper: AutoMoT (UE = Qwen3-VL) and pi0 / DriveMoE (Drive-pi0: UE = PaliGemma). A subclass wraps one
    transformers vision-language model (``self.hf``, optionally a peft LoRA wrapper) and prepares its inputs
    itself so that its text decoder layers run inside
    :func:`mmautomot.models.mot.joint_layers.mot_forward`, the one layer loop of the joint pass, the UE
    refresh and the AE tick. What the loop and :class:`MoTTransformer` / ``AutoMoT`` use:

    * ``layers`` (``nn.ModuleList``): the text decoder layers. Each has ``input_layernorm``,
      ``self_attn.{q,k,v,o}_proj`` (optionally ``self_attn.{q,k}_norm``, per-head), ``self_attn.head_dim``,
      ``post_attention_layernorm`` and ``mlp``; the family's norm (e.g. Gemma's ``(1 + w)`` RMSNorm) and
      FFN activation live in those modules.
    * ``text_rope(hidden, positions)``: the family's rotary ``(cos, sin)``, each (B, L, head_dim), for
      1-D positions (B, L) long (Qwen3-VL expands them to its 3 M-RoPE axes; Gemma uses them as is). The AE
      tokens get positions ``next_position + arange(L_a)``.
    * ``norm``: the text model's final norm; ``lm_logits(hidden)`` its LM head (tied embeddings, softcap).
    * ``head_geometry``: ``num_layers, num_heads, num_kv_heads, head_dim, hidden_size, rms_norm_eps`` (the
      AE copies the attention geometry so Q/K/V concatenate).
    * ``prepare_inputs(img_hist, texts)`` -> batch dict (right padding; ``input_ids`` and
      ``attention_mask`` (B, L) always present).
    * ``embed(batch)`` -> dict: ``hidden`` (B, L, C) input embeddings (image features scattered, family
      scaling applied), ``rope`` (cos, sin), ``valid`` (B, L) bool, ``next_position`` (B,) long (the first
      AE position), and optionally ``prefix`` (B, L) bool (tokens of a bidirectional prefix block, see
      :func:`build_task_mask`), ``deepstack`` / ``visual_pos_masks`` (Qwen3-VL).
    * ``new_cache(batch_size, capacity)``: a :class:`PrefixKVCache` of this geometry.
    * ``forward(batch, cache=None, tick=None)``: the UE alone through ``mot_forward`` (filling ``cache``).
    * ``answer(question, images)``: free text, greedy decoding through transformers' ``generate``.
    * ``num_frames``, ``image_size``, ``tokenizer`` (``encode``, ``decode``, ``eos_token_id``,
      ``pad_token_id``).

    Training modes (all families): ``freeze=True`` (all UE weights frozen, AutoMoT's default), ``freeze=False``
    (full fine-tuning), ``lora=dict(...)`` (peft ``LoraConfig`` kwargs; adapters train even when frozen).
    """

    def _setup_training(self, freeze: bool, lora: Optional[dict]) -> None:
        """Freeze the wrapped model and/or wrap it with peft LoRA adapters (call at the end of ``__init__``)."""
        tied = getattr(self.text_config, 'tie_word_embeddings', False) or getattr(
            self.core.config, 'tie_word_embeddings', False
        )
        if tied:  # the LM head shares the embedding's weight: keep both in one FSDP unit (mot.fsdp)
            self.hf.lm_head._fsdp_no_wrap = True
        self.frozen = freeze
        if freeze:
            self.hf.requires_grad_(False)
        if lora is not None:
            from peft import LoraConfig, get_peft_model

            self.hf = get_peft_model(self.hf, LoraConfig(**lora))

    def _setup_processing(
        self,
        pretrained: Optional[str],
        tokenizer,
        special_tokens: Optional[Dict[str, int]],
        eos_token: str,
        pad_token: str,
        image_processor_fn: Callable[[], object],
        hf_eos_token: Optional[str] = None,
    ) -> None:
        """Processor, tokenizer and chat template.

        From a local ``pretrained`` folder: ``AutoProcessor.from_pretrained`` (its image processor, tokenizer
        and chat template). Otherwise ``image_processor_fn()`` and, for tiny random-weight models whose special
        ids are all >= 256, a :class:`ByteFallbackTokenizer` with ``special_tokens`` (None: never); a real vocabulary
        without a tokenizer folder leaves ``tokenizer`` None (building works, e.g. on the meta device;
        :meth:`require_tokenizer` raises). ``tokenizer`` (config / folder / object) always wins.
        """
        self.processor, self.chat_template = None, None
        # also on the meta device (no weights, e.g. ``build_processor``): the processor files are plain files
        if pretrained is not None and osp.isdir(pretrained):
            from transformers import AutoProcessor

            self.processor = AutoProcessor.from_pretrained(pretrained, local_files_only=True)
            self.image_processor = self.processor.image_processor
            self.chat_template = getattr(self.processor, 'chat_template', None) or getattr(
                self.processor.tokenizer, 'chat_template', None
            )
            if tokenizer is None:
                tokenizer = HFTokenizer(eos_token=hf_eos_token, tokenizer=self.processor.tokenizer)
        else:
            self.image_processor = image_processor_fn()
        if tokenizer is not None:
            self.tokenizer = build_tokenizer(tokenizer, None, {})
        elif special_tokens and min(special_tokens.values()) >= 256:
            self.tokenizer = ByteFallbackTokenizer(
                special_tokens=special_tokens, eos_token=eos_token, pad_token=pad_token
            )
        else:
            self.tokenizer = None

    def require_tokenizer(self):
        if self.tokenizer is None:
            raise RuntimeError(
                f'{type(self).__name__}: no tokenizer; give `pretrained` (a local folder with the '
                'processor and tokenizer files) or `tokenizer`'
            )
        return self.tokenizer

    def render_chat(self, user_text: str, system: Optional[str] = None) -> Optional[str]:
        """The (system and) user turn through the folder's chat template, generation prompt added; None
        without a template."""
        if not getattr(self, 'chat_template', None):
            return None
        messages = ([dict(role='system', content=system)] if system else []) + [dict(role='user', content=user_text)]
        return self.tokenizer.tok.apply_chat_template(
            messages, chat_template=self.chat_template, tokenize=False, add_generation_prompt=True
        )

    def right_pad(self, seqs: List[List[int]]) -> Tuple[Tensor, Tensor]:
        """Token id lists -> ``input_ids`` and ``attention_mask`` (B, L) long, right padded."""
        length = max(len(s) for s in seqs)
        input_ids = torch.full((len(seqs), length), self.tokenizer.pad_token_id, dtype=torch.long)
        attn = torch.zeros((len(seqs), length), dtype=torch.long)
        for i, s in enumerate(seqs):
            input_ids[i, : len(s)] = torch.tensor(s)
            attn[i, : len(s)] = 1
        return input_ids, attn

    #: per-token keys of :meth:`prepare_inputs` (B, L) and their padding value (``input_ids``: the tokenizer's pad id)
    SEQUENCE_PAD_VALUES = {'input_ids': None, 'attention_mask': 0, 'mm_token_type_ids': 0, 'token_type_ids': 1}

    def collate_inputs(self, samples: Sequence[Dict[str, Tensor]], device=None) -> Dict[str, Tensor]:
        """Batch per-sample :meth:`prepare_inputs` outputs (each of batch size 1, e.g. from the
        ``ProcessVLMInputs`` pipeline transform) into the batch :meth:`prepare_inputs` gives for all samples.

        The per-token keys of :attr:`SEQUENCE_PAD_VALUES` are right padded to the longest sample with the values
        :meth:`prepare_inputs` pads with (``input_ids``: ``tokenizer.pad_token_id``); every other key (image
        tensors such as ``pixel_values`` (N_patches, D) or (N, 3, S, S), ``image_grid_thw`` (N, 3)) is
        concatenated along dim 0, the order :meth:`prepare_inputs` flattens the frames of a batch in.

        Args:
            samples (Sequence[dict] | dict): B dicts with the same keys, or mmengine's ``pseudo_collate`` of
                them (a dict of B-long lists).
            device: target device; defaults to the model's.

        Returns:
            dict: the batched inputs, ``pixel_values`` in the model's dtype.
        """
        if isinstance(samples, Mapping):  # pseudo_collate-d: key -> per-sample list
            n = {len(v) for v in samples.values()}
            if len(n) != 1:
                raise ValueError(f'{type(self).__name__}.collate_inputs: per-key lists differ in length {sorted(n)}')
            samples = [{k: v[i] for k, v in samples.items()} for i in range(n.pop())]
        if not samples:
            raise ValueError(f'{type(self).__name__}.collate_inputs: no samples')
        samples = [dict(s) for s in samples]
        own = self.processing_signature()
        for i, s in enumerate(samples):
            sig = s.pop('processor', None)
            if sig is not None and sig != own:
                raise ValueError(
                    f'{type(self).__name__}.collate_inputs: sample {i} was processed by another UE configuration '
                    f"(processor {sig}, this model {own}); give ProcessVLMInputs the model's UE config "
                    '(share one `ue` variable between model.mot.ue and the pipeline)'
                )
        keys = list(samples[0])
        for i, s in enumerate(samples):
            if list(s) != keys:
                raise KeyError(
                    f'{type(self).__name__}.collate_inputs: sample {i} has keys {sorted(s)}, sample 0 {sorted(keys)}'
                )
        device = device or self.core.device
        out = {}
        for key in keys:
            values = [torch.as_tensor(s[key]) for s in samples]
            if key in self.SEQUENCE_PAD_VALUES:
                pad = self.SEQUENCE_PAD_VALUES[key]
                pad = self.require_tokenizer().pad_token_id if pad is None else pad
                length = max(v.shape[-1] for v in values)
                values = [F.pad(v.reshape(1, -1), (0, length - v.shape[-1]), value=pad) for v in values]
            out[key] = torch.cat(values, dim=0).to(device)
        if 'pixel_values' in out:
            out['pixel_values'] = out['pixel_values'].to(self.core.dtype)
        return out

    @classmethod
    def build_processor(cls, cfg: dict) -> 'BaseVLMExpert':
        """Build the object that prepares this UE's inputs from the SAME config dict as the model's UE.

        The expert itself is the processor (its ``prepare_inputs``, tokenizer, image processor and chat
        template are what the model uses), built on the meta device: no weight is allocated or read, so a 4B
        config costs only its structure. ``ProcessVLMInputs`` calls it (through the registry) with the config it
        shares with ``model.mot.ue``, so pipeline and model cannot drift (:meth:`processing_signature` checks it).

        Args:
            cfg (dict): the UE config (``type`` may be given; it is this class).

        Raises:
            RuntimeError: there is no usable tokenizer without the weights (e.g. a pretrained folder without
                tokenizer files); the message names the class and folder.
        """
        kwargs = {k: v for k, v in dict(cfg).items() if k != 'type'}
        with torch.device('meta'):
            expert = cls(**kwargs)
        tok = getattr(expert, 'tokenizer', None)
        if tok is None or isinstance(tok, MissingTokenizer):
            raise RuntimeError(
                f'{cls.__name__}.build_processor: no tokenizer without the weights '
                f'(pretrained={kwargs.get("pretrained")!r}); give the UE a `tokenizer` or a folder with tokenizer files'
            )
        return expert.eval()

    def processing_signature(self) -> str:
        """A short hash of everything :meth:`prepare_inputs` depends on (class, image size, prompts, chat
        template, tokenizer, image processor, the config's token ids and patch geometry, dtype): equal for two
        experts built from the same config, with or without weights. ``ProcessVLMInputs`` stores it with the
        sample (key ``processor``), :meth:`collate_inputs` refuses samples of another configuration."""
        ip, tok = self.image_processor, self.tokenizer
        parts = (
            type(self).__name__,
            tuple(self.image_size),
            getattr(self, 'system_prompt', None),
            getattr(self, 'chat_template', None),
            type(tok).__name__,
            getattr(tok, 'vocab_size', None),
            getattr(tok, 'pad_token_id', None),
            ip.to_json_string() if hasattr(ip, 'to_json_string') else repr(ip),
            _token_layout(self.core.config),
            getattr(self, 'tokens_per_image', None),
            str(self.core.dtype),
        )
        return hashlib.sha1(repr(parts).encode()).hexdigest()[:12]

    # ------------------------------------------------------------------ geometry / sub-modules
    @property
    def core(self):
        """The transformers ``*ForConditionalGeneration`` model (unwrapped from peft if needed)."""
        return self.hf.get_base_model() if hasattr(self.hf, 'get_base_model') else self.hf

    @property
    def text_config(self):
        return self.core.config.get_text_config()

    @property
    def text_model(self) -> nn.Module:
        """The text decoder model (``embed_tokens``, ``layers``, ``norm``, ``rotary_emb``)."""
        return self.core.model.language_model

    @property
    def layers(self) -> nn.ModuleList:
        return self.text_model.layers

    @property
    def rotary_emb(self) -> nn.Module:
        return self.text_model.rotary_emb

    @property
    def norm(self) -> nn.Module:
        return self.text_model.norm

    @property
    def head_geometry(self) -> Dict[str, int]:
        """``num_layers, num_heads, num_kv_heads, head_dim, hidden_size, rms_norm_eps`` of the text model."""
        t = self.text_config
        head_dim = getattr(t, 'head_dim', None) or t.hidden_size // t.num_attention_heads
        return dict(
            num_layers=t.num_hidden_layers,
            num_heads=t.num_attention_heads,
            num_kv_heads=t.num_key_value_heads,
            head_dim=head_dim,
            hidden_size=t.hidden_size,
            rms_norm_eps=t.rms_norm_eps,
        )

    def text_rope(self, hidden: Tensor, positions: Tensor):
        """Rotary ``(cos, sin)`` (B, L, head_dim) for 1-D positions (B, L) (1-D RoPE families)."""
        return self.rotary_emb(hidden, positions)

    def lm_logits(self, hidden: Tensor) -> Tensor:
        """(B, L, vocab) logits of final-normed hidden states (the family's LM head and logit softcap)."""
        logits = self.core.lm_head(hidden)
        cap = getattr(self.text_config, 'final_logit_softcapping', None)
        return torch.tanh(logits / cap) * cap if cap else logits

    # ------------------------------------------------------------------ frames
    def frames_to_list(self, img_hist) -> List[List[Tensor]]:
        """(B, N, 3, H, W) uint8 tensor, or a list (per sample) of (N, 3, H, W) / HWC numpy frames."""
        if isinstance(img_hist, Tensor):
            if img_hist.dim() == 4:
                img_hist = img_hist[None]
            if img_hist.dim() != 5 or img_hist.shape[2] != 3:
                raise ValueError(
                    f'{type(self).__name__}: img_hist must be (B, N, 3, H, W), got {tuple(img_hist.shape)}'
                )
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

    def resize(self, frame: Tensor) -> Tensor:
        """(3, H, W) -> (3, *image_size) uint8 (bilinear, antialiased)."""
        frame = frame.float()
        if tuple(frame.shape[-2:]) != tuple(self.image_size):
            frame = F.interpolate(
                frame[None], size=tuple(self.image_size), mode='bilinear', align_corners=False, antialias=True
            )[0]
        return frame.clamp(0, 255).round().to(torch.uint8)

    # ------------------------------------------------------------------ family specific
    def prepare_inputs(self, img_hist, texts: Sequence[str], device=None) -> Dict[str, Tensor]:
        raise NotImplementedError

    def embed(self, batch: Dict[str, Tensor]) -> Dict[str, Tensor]:
        raise NotImplementedError

    # ------------------------------------------------------------------ running
    def new_cache(self, batch_size: int, capacity: int, dtype=None, device=None) -> PrefixKVCache:
        """Allocate a :class:`PrefixKVCache` with this model's geometry."""
        g = self.head_geometry
        return PrefixKVCache(
            g['num_layers'],
            batch_size,
            g['num_kv_heads'],
            g['head_dim'],
            capacity,
            dtype=dtype or self.core.dtype,
            device=device or self.core.device,
        )

    def forward(
        self, batch: Dict[str, Tensor], cache: Optional[PrefixKVCache] = None, tick: Optional[int] = None
    ) -> Tensor:
        """Run the UE alone through the MoT layer loop (optionally filling ``cache``).

        Returns:
            Tensor: (B, L, C) final-normed hidden states.
        """
        emb = self.embed(batch)
        prefix = emb.get('prefix')
        mask = build_task_mask(emb['valid'], (), None if prefix is None else prefix.long())
        if cache is not None:
            cache.begin_write(emb['valid'], emb['next_position'], tick)
        hidden, _ = mot_forward(
            self.layers,
            None,
            emb['hidden'],
            None,
            emb['rope'],
            None,
            mask,
            emb.get('deepstack'),
            emb.get('visual_pos_masks'),
            cache,
            'write' if cache is not None else None,
        )
        return self.norm(hidden)

    @torch.no_grad()
    def generate_ids(self, question: str, images, max_new_tokens: Optional[int] = None) -> List[int]:
        """Greedy answer token ids (KV-cached ``generate``; stops at ``tokenizer.eos_token_id``)."""
        batch = self.prepare_inputs([images], [question])
        out = self.core.generate(
            **batch,
            max_new_tokens=max_new_tokens or self.max_new_tokens,
            do_sample=False,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        return out[0, batch['input_ids'].shape[1] :].tolist()

    @torch.no_grad()
    def answer(self, question: str, images, max_new_tokens: Optional[int] = None) -> str:
        """Answer a free-text question about the frames (greedy decoding with a KV cache).

        Args:
            question (str): e.g. 'What is your current action and why?'.
            images: (N, 3, H, W) uint8 tensor or a list of (H, W, 3) uint8 RGB numpy frames.
            max_new_tokens (int | None): defaults to ``self.max_new_tokens``.
        """
        return self.tokenizer.decode(self.generate_ids(question, images, max_new_tokens), skip_special_tokens=True)


def _token_layout(config) -> tuple:
    """The VLM config's entries that shape the UE tokens: special token ids and the vision patch geometry (not the
    whole config, whose serialisation differs between a folder and a dict build)."""
    top = sorted((k, v) for k, v in config.to_dict().items() if 'token' in k and isinstance(v, (int, list)))
    vision = getattr(config, 'vision_config', None)
    keys = ('patch_size', 'spatial_merge_size', 'temporal_patch_size', 'image_size')
    return tuple(top), tuple((k, getattr(vision, k, None)) for k in keys)
