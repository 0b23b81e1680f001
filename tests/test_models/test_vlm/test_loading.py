# Copyright (c) mmautomot contributors. All rights reserved.
import shutil

import numpy as np
import pytest
import torch
from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

from mmautomot.models.vlm import Qwen3VLUnderstandingExpert, qwen3vl_preset


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('tiny_qwen3vl')
    model = Qwen3VLForConditionalGeneration(Qwen3VLConfig(**qwen3vl_preset('tiny')))
    model.save_pretrained(path)
    return path, model


# The saved tiny model has no tokenizer files: tests that only check weights name the byte tokenizer explicitly.
BYTES = dict(type='ByteFallbackTokenizer')


def test_pretrained_folder_without_tokenizer_files_raises(saved):
    """No silent byte-level fallback (special-token ids that are not Qwen's) for a pretrained folder."""
    path, _ = saved
    for config in (None, qwen3vl_preset('tiny')):
        with pytest.raises(FileNotFoundError, match=f"pretrained folder '{path}' has no tokenizer files"):
            Qwen3VLUnderstandingExpert(pretrained=str(path), config=config, image_size=(32, 64))


def test_meta_build_defers_the_missing_tokenizer(tmp_path):
    """A structure-only build (meta device, e.g. parameter counting of the paper config) does not read the
    folder; using its tokenizer fails naming the folder."""
    with torch.device('meta'):
        ue = Qwen3VLUnderstandingExpert(
            pretrained=str(tmp_path / 'Qwen3-VL'), config=qwen3vl_preset('tiny'), image_size=(32, 64)
        )
    with pytest.raises(FileNotFoundError, match='Qwen3-VL.* has no tokenizer files'):
        ue.tokenizer.encode('hi')


def test_missing_folder(tmp_path):
    missing = tmp_path / 'nope'
    with pytest.raises(FileNotFoundError, match=f"pretrained folder '{missing}' does not exist"):
        Qwen3VLUnderstandingExpert(pretrained=str(missing))


def test_load_pretrained_same_weights(saved):
    path, ref = saved
    ue = Qwen3VLUnderstandingExpert(pretrained=str(path), image_size=(32, 64), tokenizer=BYTES)
    for name, p in ref.state_dict().items():
        assert torch.equal(p, ue.core.state_dict()[name]), name
    # config override with the matching shapes loads with the name/shape check
    ue2 = Qwen3VLUnderstandingExpert(
        pretrained=str(path), config=qwen3vl_preset('tiny'), image_size=(32, 64), tokenizer=BYTES
    )
    w = 'model.language_model.layers.2.mlp.down_proj.weight'
    assert torch.equal(ue2.core.state_dict()[w], ref.state_dict()[w])


def test_shape_mismatch_names_parameter(saved):
    path, _ = saved
    cfg = qwen3vl_preset('tiny')
    cfg['text_config']['intermediate_size'] = 96
    with pytest.raises(ValueError, match=r"shape mismatch for parameter 'model\.language_model\.layers\.0\.mlp"):
        Qwen3VLUnderstandingExpert(pretrained=str(path), config=cfg, image_size=(32, 64))


def test_no_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'.*test_no_weights0' lacks \['model\.safetensors"):
        Qwen3VLUnderstandingExpert(pretrained=str(tmp_path), config=qwen3vl_preset('tiny'))


QWEN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    '{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}'
)


def test_folder_tokenizer_chat_template_and_processor(saved, tmp_path):
    """A folder with a tokenizer (chat template) and an image processor: both are used; a Qwen-style template
    renders exactly the text the expert writes itself without one."""
    from transformers import Qwen2VLImageProcessor
    from vlm_test_utils import char_tokenizer

    path, _ = saved
    folder = tmp_path / 'with_tokenizer'
    shutil.copytree(path, folder)
    specials = (
        '<|vision_start|>',
        '<|vision_end|>',
        '<|image_pad|>',
        '<|video_pad|>',
        '<|endoftext|>',
        '<|im_start|>',
        '<|im_end|>',
    )  # ids 256..262, as the tiny preset's
    char_tokenizer(specials, eos='<|im_end|>', pad='<|endoftext|>', chat_template=QWEN_TEMPLATE).save_pretrained(folder)
    Qwen2VLImageProcessor(
        patch_size=16, merge_size=2, temporal_patch_size=2, image_mean=[0.1, 0.2, 0.3], image_std=[0.5, 0.5, 0.5]
    ).save_pretrained(folder)
    ue = Qwen3VLUnderstandingExpert(pretrained=str(folder), image_size=(32, 64))
    plain = Qwen3VLUnderstandingExpert(config=qwen3vl_preset('tiny'), image_size=(32, 64))
    assert ue.chat_template == QWEN_TEMPLATE and plain.chat_template is None
    assert ue.chat_text('go') == plain.chat_text('go')
    assert list(ue.image_processor.image_mean) == [0.1, 0.2, 0.3]
    ue.chat_template = QWEN_TEMPLATE.replace('<|im_start|>assistant', '<|im_start|>driver')
    assert ue.chat_text('go').endswith('<|im_start|>driver\n')
    batch = ue.prepare_inputs(torch.zeros(1, 2, 3, 32, 64, dtype=torch.uint8), ['go'])
    text = ue.tokenizer.decode(batch['input_ids'][0].tolist(), skip_special_tokens=False)
    assert text.count('<|image_pad|>') == 4 and text.startswith('<|im_start|>system\n')
    # the pipeline's weightless processor of the same folder gives the model's inputs (ProcessVLMInputs)
    from mmautomot.datasets.transforms import ProcessVLMInputs

    for cfg in (dict(pretrained=str(folder)), dict(pretrained=str(folder), preset='tiny')):
        cfg = dict(cfg, type='Qwen3VLUnderstandingExpert', image_size=(32, 64))
        model_ue = Qwen3VLUnderstandingExpert(**{k: v for k, v in cfg.items() if k != 'type'})
        img = np.random.default_rng(0).integers(0, 256, (2, 32, 64, 3), dtype=np.uint8)
        got = model_ue.collate_inputs([ProcessVLMInputs(ue=cfg)(dict(img_hist=img, prompt='go'))['vlm_inputs']])
        ref = model_ue.prepare_inputs(torch.from_numpy(img).permute(0, 3, 1, 2)[None], ['go'])
        assert sorted(got) == sorted(ref) and all(torch.equal(got[k], ref[k]) for k in ref)
