# Copyright (c) mmautomot contributors. All rights reserved.
"""SAMoE-VLA's instruction tokens, computed in the data pipeline."""

import torch

from mmautomot.datasets.transforms import ProcessVLMInputs
from mmautomot.registry import TRANSFORMS

from .world_language import instruction_text


@TRANSFORMS.register_module()
class TokenizeInstruction(ProcessVLMInputs):
    """:class:`ProcessVLMInputs` for SAMoE-VLA: tokenise the sample's instruction with the VLM's tokenizer.

    Paper: SAMoE-VLA (the tokenised human instruction of the world-language sequence). What
    ``WorldLanguageTokens`` otherwise does in ``forward`` (``instructions_of`` then ``tokenizer.encode``) runs
    here, in the dataloader workers; the model right-pads the samples (``collate_inputs``) and truncates them to
    ``world.max_instruction_tokens`` as before. The tokenizer is the weightless copy of the model's VLM
    (``BaseVLMExpert.build_processor`` of ``ue``: give it the model's ``vlm`` config).

    Required keys: ``command`` (int), optional ``instruction`` (str, LangAuto-style; empty or absent: the
    command's sentence, :func:`instruction_text`).
    Added keys: ``vlm_inputs``: ``input_ids``, ``attention_mask`` (1, L) long (untruncated) and ``processor``
    (the VLM's processing signature).

    Args:
        ue (dict): the model's VLM config (``model.vlm``).
        processor (object, optional): an already built expert (``Driver`` passes the model's). Defaults to None.
    """

    def transform(self, results: dict) -> dict:
        token = results.get('token', '<no token>')
        if 'command' not in results:
            raise KeyError(f"sample {token!r}: TokenizeInstruction needs 'command'")
        text = instruction_text(int(results['command']), results.get('instruction'), f'sample {token!r}')
        ids = self.processor.require_tokenizer().encode(text)
        if len(ids) == 0:
            raise ValueError(f'sample {token!r}: the instruction {text!r} encodes to no tokens')
        ids = torch.tensor([ids], dtype=torch.long)
        results['vlm_inputs'] = dict(
            input_ids=ids, attention_mask=torch.ones_like(ids), processor=self.processor.processing_signature()
        )
        return results
