# Copyright (c) mmautomot contributors. All rights reserved.
"""Helpers of the VLM tests (a uniquely named module: several test folders have helpers)."""


def char_tokenizer(special_tokens, bos=None, eos=None, pad=None, chat_template=None):
    """A transformers fast tokenizer that maps each character c < 256 to id ord(c) and ``special_tokens``
    (in order) to 256, 257, ... - the ids of the byte-level tiny presets - built offline."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab={chr(i): i for i in range(256)}, unk_token='\x00'))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex('.|\\n'), behavior='isolated')
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad, unk_token='\x00')
    if chat_template is not None:
        fast.chat_template = chat_template
    return fast
