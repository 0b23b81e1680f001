# Copyright (c) mmautomot contributors. All rights reserved.
"""Tokenizers for the understanding expert: transformers' tokenizer of a local model folder, or a
byte-level fallback for tiny random-weight models (no tokenizer files exist offline)."""

import os.path as osp
import re
from typing import Dict, List, Optional

from mmautomot.registry import TASK_UTILS

QWEN_SPECIAL_TOKENS = (
    '<|endoftext|>',
    '<|im_start|>',
    '<|im_end|>',
    '<|vision_start|>',
    '<|vision_end|>',
    '<|image_pad|>',
    '<|video_pad|>',
)


@TASK_UTILS.register_module()
class ByteFallbackTokenizer:
    """Byte-level tokenizer (UTF-8 byte b -> id b) plus Qwen-style special tokens at fixed ids.

    Only for tiny random-weight models in tests and smoke runs: ids 0..255 are bytes, the special tokens
    (``<|im_start|>``, ``<|vision_start|>``, ``<|image_pad|>`` ...) get the ids in ``special_tokens``, which
    must match the Qwen3-VL config's ``vision_start_token_id`` / ``vision_end_token_id`` / ``image_token_id``.

    Args:
        special_tokens (dict[str, int] | None): token string -> id (all >= 256). Defaults to ids 256..262
            in the order of :data:`QWEN_SPECIAL_TOKENS`.
        eos_token (str): the end-of-turn token. Defaults to '<|im_end|>'.
        pad_token (str): the padding token. Defaults to '<|endoftext|>'.
    """

    def __init__(
        self,
        special_tokens: Optional[Dict[str, int]] = None,
        eos_token: str = '<|im_end|>',
        pad_token: str = '<|endoftext|>',
    ):
        if special_tokens is None:
            special_tokens = {t: 256 + i for i, t in enumerate(QWEN_SPECIAL_TOKENS)}
        bad = {t: i for t, i in special_tokens.items() if i < 256}
        if bad:
            raise ValueError(f'ByteFallbackTokenizer: special token ids must be >= 256 (bytes), got {bad}')
        self.special_tokens = dict(special_tokens)
        self._id_to_special = {i: t for t, i in self.special_tokens.items()}
        self._split = re.compile('(' + '|'.join(re.escape(t) for t in self.special_tokens) + ')')
        self.eos_token_id = self.special_tokens[eos_token]
        self.pad_token_id = self.special_tokens[pad_token]
        self.vocab_size = max(self.special_tokens.values()) + 1

    def encode(self, text: str) -> List[int]:
        """Text -> ids; special-token strings map to their ids, everything else to UTF-8 bytes."""
        ids: List[int] = []
        for piece in self._split.split(text):
            if piece in self.special_tokens:
                ids.append(self.special_tokens[piece])
            elif piece:
                ids.extend(piece.encode('utf-8'))
        return ids

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        """Ids -> text; invalid UTF-8 is replaced, unknown ids (model vocab > tokenizer) are dropped."""
        out, buf = [], bytearray()
        for i in (int(x) for x in ids):
            if i < 256:
                buf.append(i)
                continue
            out.append(buf.decode('utf-8', errors='replace'))
            buf = bytearray()
            if i in self._id_to_special and not skip_special_tokens:
                out.append(self._id_to_special[i])
        out.append(buf.decode('utf-8', errors='replace'))
        return ''.join(out)


class HFTokenizer:
    """transformers' tokenizer of a local model folder, behind the same small interface.

    Args:
        path (str | None): local folder with the tokenizer files (``tokenizer.json`` / ``tokenizer_config.json``).
        eos_token (str | None): the end-of-answer token if it is not the tokenizer's ``eos_token`` (Qwen's
            chat models end a turn with '<|im_end|>'). Defaults to '<|im_end|>' (falls back to the
            tokenizer's ``eos_token_id`` when the vocabulary lacks it).
        tokenizer (PreTrainedTokenizerBase | None): an already loaded tokenizer (e.g. a processor's) instead
            of ``path``.
    """

    def __init__(self, path: Optional[str] = None, eos_token: Optional[str] = '<|im_end|>', tokenizer=None):
        if tokenizer is not None:
            self.tok = tokenizer
        else:
            from transformers import AutoTokenizer

            if path is None or not osp.isdir(path):
                raise FileNotFoundError(f'HFTokenizer: tokenizer folder {path!r} does not exist')
            self.tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        eos = self.tok.convert_tokens_to_ids(eos_token) if eos_token is not None else None
        known = isinstance(eos, int) and eos >= 0 and eos != self.tok.unk_token_id
        self.eos_token_id = eos if known else self.tok.eos_token_id
        self.bos_token_id = self.tok.bos_token_id
        self.pad_token_id = self.tok.pad_token_id if self.tok.pad_token_id is not None else self.eos_token_id
        self.vocab_size = len(self.tok)

    def encode(self, text: str) -> List[int]:
        return self.tok.encode(text, add_special_tokens=False)

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=skip_special_tokens)


def has_tokenizer_files(path: Optional[str]) -> bool:
    """Whether ``path`` is a folder holding tokenizer files."""
    return path is not None and any(
        osp.isfile(osp.join(path, f)) for f in ('tokenizer.json', 'tokenizer_config.json', 'vocab.json')
    )


class MissingTokenizer:
    """Placeholder of a pretrained folder's tokenizer in a structure-only (meta device) build.

    Any use raises :class:`FileNotFoundError` naming the folder: nothing is ever tokenized with ids that
    are not the model's.
    """

    def __init__(self, folder: str):
        self.folder = folder

    def message(self) -> str:
        return (
            f'Qwen3VLUnderstandingExpert: pretrained folder {self.folder!r} has no tokenizer files '
            '(tokenizer.json / tokenizer_config.json / vocab.json); copy the full model folder there or give '
            '`tokenizer=` explicitly'
        )

    def __getattr__(self, name):
        if name.startswith('__') or name in ('folder', 'message'):
            raise AttributeError(name)
        raise FileNotFoundError(self.message())


def build_tokenizer(cfg, pretrained: Optional[str], special_ids: Dict[str, int], meta: bool = False):
    """Build the UE tokenizer.

    Args:
        cfg (dict | str | None): a TASK_UTILS config dict, a local folder, or None: the pretrained folder's
            tokenizer; :class:`ByteFallbackTokenizer` with ``special_ids`` only when there is no pretrained
            folder (random-weight test models).
        pretrained (str | None): the UE's pretrained folder.
        special_ids (dict[str, int]): Qwen special token string -> id from the model config.
        meta (bool): structure-only build on the meta device (no weights are read): a pretrained folder
            without tokenizer files gives a :class:`MissingTokenizer` that fails on first use.

    Raises:
        FileNotFoundError: ``pretrained`` is given but holds no tokenizer files (naming the folder). A
            byte-level fallback would silently use special-token ids that are not Qwen's.
    """
    if isinstance(cfg, str):
        return HFTokenizer(cfg)
    if isinstance(cfg, dict):
        return TASK_UTILS.build(cfg)
    if cfg is not None:
        return cfg
    if pretrained is None:
        return ByteFallbackTokenizer(special_tokens=special_ids)
    if has_tokenizer_files(pretrained):
        return HFTokenizer(pretrained)
    if meta:
        return MissingTokenizer(pretrained)
    raise FileNotFoundError(MissingTokenizer(pretrained).message())
