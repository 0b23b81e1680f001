# Copyright (c) mmautomot contributors. All rights reserved.
"""A local PaliGemma folder loads the transformers way (weights, processor, tokenizer, chat template), and a
folder missing files fails naming the folder and the files."""

import os
import shutil

import numpy as np
import pytest
import torch
from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration
from vlm_test_utils import char_tokenizer

from mmautomot.models.vlm import PaliGemmaUnderstandingExpert, paligemma_preset

TEMPLATE = (
    "{% for m in messages %}USER: {{ m['content'] }}{% endfor %}{% if add_generation_prompt %} ANSWER:{% endif %}"
)


def _tiny_processor(chat_template=None):
    """PaliGemma's processor over a character-level tokenizer with the tiny preset's special ids."""
    from transformers import PaliGemmaProcessor, SiglipImageProcessor

    fast = char_tokenizer(('<pad>', '<eos>', '<bos>', '<image>'), bos='<bos>', eos='<eos>', pad='<pad>')
    image_processor = SiglipImageProcessor(size=dict(height=32, width=32))
    image_processor.image_seq_length = 16
    return PaliGemmaProcessor(image_processor=image_processor, tokenizer=fast, chat_template=chat_template)


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('tiny_paligemma')
    model = PaliGemmaForConditionalGeneration(PaliGemmaConfig(**paligemma_preset('tiny')))
    model.save_pretrained(path)
    processor = _tiny_processor(TEMPLATE)
    processor.save_pretrained(path)
    return path, model, processor


def test_load_folder_the_transformers_way(saved):
    path, ref, processor = saved
    ue = PaliGemmaUnderstandingExpert(pretrained=str(path), num_frames=1)
    for name, p in ref.state_dict().items():
        assert torch.equal(p, ue.core.state_dict()[name]), name
    assert type(ue.processor).__name__ == 'PaliGemmaProcessor' and ue.chat_template == TEMPLATE
    assert (ue.tokenizer.eos_token_id, ue.tokenizer.pad_token_id, ue.bos_token_id) == (257, 256, 258)
    # the chat template renders the prompt; the ids and pixels equal the folder's processor output
    assert ue.prompt_text('hello') == 'USER: hello ANSWER:'
    img = torch.randint(0, 256, (1, 1, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    ours = ue.prepare_inputs(img, ['hello'])
    theirs = processor(
        text=['<image>' + ue.prompt_text('hello')], images=[[img[0, 0].permute(1, 2, 0).numpy()]], return_tensors='pt'
    )
    assert torch.equal(ours['input_ids'], theirs['input_ids'])
    assert torch.equal(ours['token_type_ids'], theirs['token_type_ids'])
    torch.testing.assert_close(ours['pixel_values'], theirs['pixel_values'])


def test_preset_override_is_shape_checked(saved):
    path, ref, _ = saved
    ue = PaliGemmaUnderstandingExpert(pretrained=str(path), preset='tiny')
    w = 'model.language_model.layers.2.mlp.down_proj.weight'
    assert torch.equal(ue.core.state_dict()[w], ref.state_dict()[w])
    with pytest.raises(ValueError, match=r"shape mismatch for parameter 'model\.language_model\.layers\.0\.mlp"):
        PaliGemmaUnderstandingExpert(
            pretrained=str(path), preset='tiny', config=dict(text_config=dict(intermediate_size=96))
        )


def test_missing_files_are_named(saved, tmp_path):
    path, _, _ = saved
    partial = tmp_path / 'partial'
    partial.mkdir()
    shutil.copy(path / 'config.json', partial / 'config.json')
    with pytest.raises(FileNotFoundError) as err:
        PaliGemmaUnderstandingExpert(pretrained=str(partial))
    msg = str(err.value)
    assert str(partial) in msg
    for missing in ('model.safetensors', 'preprocessor_config.json', 'tokenizer files'):
        assert missing in msg, msg
    assert "'config.json'" not in msg
    # the weights alone are not enough either: the processor and tokenizer are named
    shutil.copy(path / 'model.safetensors', partial / 'model.safetensors')
    with pytest.raises(
        FileNotFoundError, match=r"lacks \['preprocessor_config.json / processor_config.json', 'tokenizer files"
    ):
        PaliGemmaUnderstandingExpert(pretrained=str(partial))
    # a sharded checkpoint names the missing shard
    with open(partial / 'model.safetensors.index.json', 'w') as f:
        f.write('{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model.safetensors"}}')
    for name in os.listdir(path):
        if name.startswith(('tokenizer', 'processor', 'chat_template')):
            shutil.copy(path / name, partial / name)
    with pytest.raises(FileNotFoundError, match=r"lacks \['model-00001-of-00002.safetensors'\]"):
        PaliGemmaUnderstandingExpert(pretrained=str(partial))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        PaliGemmaUnderstandingExpert(pretrained=str(tmp_path / 'nope'))


def test_answer_with_folder_tokenizer(saved):
    path, _, _ = saved
    ue = PaliGemmaUnderstandingExpert(pretrained=str(path), num_frames=1).eval()
    frames = [np.full((20, 30, 3), 90, np.uint8)]
    ids = ue.generate_ids('hi', frames, max_new_tokens=3)
    assert 1 <= len(ids) <= 3 and ue.answer('hi', frames, max_new_tokens=3) == ue.tokenizer.decode(ids)


def test_pipeline_processor_of_a_folder_equals_the_model(saved):
    """ProcessVLMInputs builds its weightless processor from the same folder (processor, tokenizer, chat
    template): the pipeline's inputs equal the loaded model's prepare_inputs."""
    from mmautomot.datasets.transforms import ProcessVLMInputs

    path, _, _ = saved
    cfg = dict(type='PaliGemmaUnderstandingExpert', pretrained=str(path), preset='tiny', num_frames=1)
    ue = PaliGemmaUnderstandingExpert(**{k: v for k, v in cfg.items() if k != 'type'})
    img = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    got = ProcessVLMInputs(ue=cfg)(dict(img_hist=img, prompt='hello'))['vlm_inputs']
    ref = ue.prepare_inputs(torch.from_numpy(img).permute(0, 3, 1, 2)[None], ['hello'])
    batch = ue.collate_inputs([got])
    assert sorted(batch) == sorted(ref)
    assert all(torch.equal(batch[k], ref[k]) for k in ref)
