# Copyright (c) mmautomot contributors. All rights reserved.
"""TokenizeInstruction: SAMoE-VLA's instruction tokens in the pipeline equal the in-forward tokenisation."""

import pickle

import pytest
import torch

import projects.samoe.samoe  # noqa: F401
from mmautomot.registry import MODELS, TRANSFORMS
from projects.samoe.samoe import command_instruction

VLM = dict(type='Qwen3VLUnderstandingExpert', preset='tiny', image_size=(32, 64), num_frames=1)


def test_tokens_are_the_instruction_or_the_command_sentence():
    vlm = MODELS.build(VLM)
    tf = TRANSFORMS.build(dict(type='TokenizeInstruction', ue=VLM))
    got = tf(dict(token='a', command=1, instruction='  Stop at the light.  '))['vlm_inputs']
    assert got['input_ids'].tolist() == [vlm.tokenizer.encode('Stop at the light.')]
    assert torch.equal(got['attention_mask'], torch.ones_like(got['input_ids']))
    assert got['processor'] == vlm.processing_signature()
    for instruction in ('', '   ', None):  # empty or absent: the command's sentence
        res = dict(token='b', command=2) if instruction is None else dict(token='b', command=2, instruction=instruction)
        assert tf(res)['vlm_inputs']['input_ids'].tolist() == [vlm.tokenizer.encode(command_instruction(2))]
    again = pickle.loads(pickle.dumps(tf))  # dataloader workers rebuild the tokenizer
    assert torch.equal(
        again(dict(token='a', command=0))['vlm_inputs']['input_ids'], tf(dict(command=0))['vlm_inputs']['input_ids']
    )


def test_bad_samples_are_named():
    tf = TRANSFORMS.build(dict(type='TokenizeInstruction', ue=VLM))
    with pytest.raises(KeyError, match=r"sample 'x': TokenizeInstruction needs 'command'"):
        tf(dict(token='x'))
    with pytest.raises(TypeError, match=r"sample 'y' instruction must be a str, got int"):
        tf(dict(token='y', command=0, instruction=3))
    with pytest.raises(ValueError, match=r'command index 9 outside'):
        tf(dict(token='z', command=9))
