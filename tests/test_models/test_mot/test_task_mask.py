# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch

from mmautomot.models.mot import ae_rows, build_task_mask


def test_mask_blocks():
    valid = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    n_u, n_d, n_p = 5, 3, 2
    mask = build_task_mask(valid, (n_d, n_p))
    assert mask.shape == (2, 1, 10, 10) and mask.dtype == torch.bool
    m = mask[1, 0]
    u, d, p = slice(0, n_u), slice(n_u, n_u + n_d), slice(n_u + n_d, None)
    # understanding: causal among themselves, never sees AE tokens
    assert torch.equal(m[u, u], torch.ones(n_u, n_u, dtype=torch.bool).tril())
    assert not m[u, d].any() and not m[u, p].any()
    # decision: all understanding tokens and each other (bidirectional), not planning
    assert m[d, u].all() and m[d, d].all() and not m[d, p].any()
    # planning: understanding, decision and each other
    assert m[p, u].all() and m[p, d].all() and m[p, p].all()
    # padding key column of sample 0 is masked for every query row, nothing else changes
    m0 = mask[0, 0]
    assert not m0[:, 4].any()
    assert torch.equal(m0[:, :4], m[:, :4]) and torch.equal(m0[:, 5:], m[:, 5:])


def test_ae_rows_and_errors():
    valid = torch.ones(1, 4)
    mask = build_task_mask(valid, (2, 1))
    rows = ae_rows(mask, 4)
    assert rows.shape == (1, 1, 3, 7)
    assert torch.equal(
        rows[0, 0].int(), torch.tensor([[1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1]])
    )
    with pytest.raises(ValueError, match='ue_valid must be'):
        build_task_mask(torch.ones(4), (1,))
    with pytest.raises(ValueError, match='negative'):
        build_task_mask(valid, (2, -1))


def test_ue_spans_add_bidirectional_blocks_only_inside_the_ue():
    from mmautomot.models.mot.ue_spans import released_ue_spans

    # tokens: t s i i e t s i e t t END t (s/e = vision start/end 1/2, END = 9), one padding token
    ids = torch.tensor([[5, 1, 3, 3, 2, 5, 1, 3, 2, 5, 5, 9, 5, 0]])
    valid = torch.ones_like(ids, dtype=torch.bool)
    valid[0, -1] = False
    spans = released_ue_spans(ids, valid, 1, 2)
    assert spans[0].tolist() == [0, 1, 1, 1, 1, 0, 2, 2, 2, 0, 0, 0, 0, 0]
    spans_i = released_ue_spans(ids, valid, 1, 2, end_id=9, instruction=True)
    assert spans_i[0].tolist() == [0, 1, 1, 1, 1, 0, 2, 2, 2, 15, 15, 15, 0, 0]
    mask = build_task_mask(valid, (2, 1), spans_i)[0, 0]
    causal = build_task_mask(valid, (2, 1))[0, 0]
    n = ids.shape[1]
    extra = mask & ~causal
    expect = torch.zeros_like(extra)
    for s, e in ((1, 5), (6, 9), (9, 12)):
        expect[s:e, s:e] = torch.ones(e - s, e - s).triu(1).bool()
    assert torch.equal(extra, expect)
    assert not mask[:n, n:].any()  # the UE never sees AE tokens
    assert torch.equal(mask[n:], causal[n:]) and not mask[:, -4].any()  # AE rows unchanged; padding unseen
    with pytest.raises(ValueError, match='needs end_id'):
        released_ue_spans(ids, valid, 1, 2, instruction=True)
    with pytest.raises(ValueError, match='ue_spans'):
        build_task_mask(valid, (2, 1), spans_i[:, :3])


def test_bidirectional_prefix_block():
    """PaliGemma's prefix-LM: prefix UE tokens see each other both ways; the rest stays causal; AE rows and
    the UE's blindness to AE tokens do not change."""
    valid = torch.tensor([[1, 1, 1, 1, 0]])
    prefix = torch.tensor([[1, 1, 1, 0, 0]], dtype=torch.bool)
    mask = build_task_mask(valid, (2,), ue_spans=prefix.long())[0, 0]
    plain = build_task_mask(valid, (2,))[0, 0]
    assert mask[0, :3].all() and mask[1, :3].all()  # token 0 sees the later prefix tokens 1 and 2
    assert not mask[2, 3] and mask[3, :4].all()  # a prefix token does not see the causal token after it
    assert not mask[:, 4].any() and not mask[:5, 5:].any()  # padding key masked; UE never sees AE
    assert torch.equal(mask[5:], plain[5:])
    diff = mask ^ plain
    assert diff.nonzero().tolist() == [[0, 1], [0, 2], [1, 2]]  # only the upper triangle of the prefix
    with pytest.raises(ValueError, match='ue_spans'):
        build_task_mask(valid, (2,), ue_spans=prefix[:, :3].long())
