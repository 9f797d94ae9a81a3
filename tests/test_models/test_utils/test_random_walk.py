"""Pair offsets, PSA affinities, pair labels and the random walk, on hand-made tensors."""
import math

import pytest
import torch

from mmseg_mctformer.models.utils import (
    affinity_pair_labels,
    pair_valid_mask,
    pairwise_affinity,
    radius_offsets,
    random_walk,
    transition_matrix,
)


def test_radius_offsets_half_plane():
    assert radius_offsets(2) == [(0, 1), (1, -1), (1, 0), (1, 1)]
    offsets = radius_offsets(5)
    full = {(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
            if 0 < dy * dy + dx * dx < 25}
    # every neighbour within the radius once, either as (dy, dx) or as its opposite
    assert set(offsets) | {(-dy, -dx) for dy, dx in offsets} == full
    assert len(offsets) == len(full) // 2 == 34
    with pytest.raises(ValueError, match='radius'):
        radius_offsets(1)


def test_pair_valid_mask_and_affinity():
    feats = torch.tensor([[[0., 1.], [3., 1.]]]).unsqueeze(0)  # (1, 1, 2, 2)
    offsets = [(0, 1), (1, 0), (1, -1)]
    valid = pair_valid_mask((2, 2), offsets)
    assert valid.tolist() == [[[True, False], [True, False]],
                              [[True, True], [False, False]],
                              [[False, True], [False, False]]]
    aff = pairwise_affinity(feats, offsets)[0]
    assert aff.shape == (3, 2, 2)
    assert aff[0, 0, 0] == pytest.approx(math.exp(-1))  # (0,0)-(0,1)
    assert aff[0, 1, 0] == pytest.approx(math.exp(-2))  # (1,0)-(1,1)
    assert aff[1, 0, 1] == pytest.approx(1.0)  # (0,1)-(1,1)
    assert aff[2, 0, 1] == pytest.approx(math.exp(-2))  # (0,1)-(1,0)


def test_pairwise_affinity_matches_brute_force():
    torch.manual_seed(0)
    offsets = radius_offsets(3)
    feats = torch.randn(2, 4, 5, 6, requires_grad=True)
    aff = pairwise_affinity(feats, offsets)
    valid = pair_valid_mask((5, 6), offsets)
    for p, (dy, dx) in enumerate(offsets):
        for y in range(5):
            for x in range(6):
                if valid[p, y, x]:
                    ref = torch.exp(-(feats[:, :, y, x] - feats[:, :, y + dy, x + dx]).abs()
                                    .mean(1))
                    torch.testing.assert_close(aff[:, p, y, x], ref)
    (aff * valid).sum().backward()
    assert torch.isfinite(feats.grad).all() and feats.grad.abs().sum() > 0


def test_affinity_pair_labels():
    label = torch.tensor([[[0, 0, 1], [2, 255, 1]]])  # (1, 2, 3)
    pos_bg, pos_fg, neg = affinity_pair_labels(label, [(0, 1), (1, 0)])
    # right neighbours: 0-0 bg, 0-1 neg; 2-255 ignored, 255-1 ignored
    assert pos_bg[0, 0].tolist() == [[True, False, False], [False, False, False]]
    assert neg[0, 0].tolist() == [[False, True, False], [False, False, False]]
    # down neighbours: 0-2 neg, 0-255 ignored, 1-1 fg
    assert neg[0, 1].tolist() == [[True, False, False], [False, False, False]]
    assert pos_fg[0, 1].tolist() == [[False, False, True], [False, False, False]]
    assert int(pos_fg.sum() + pos_bg.sum() + neg.sum()) == 4


def test_transition_matrix_matches_dense_definition():
    torch.manual_seed(0)
    offsets = radius_offsets(2)
    aff = torch.rand(len(offsets), 3, 4)
    trans = transition_matrix(aff, offsets, beta=2).to_dense()
    dense = torch.eye(12)
    idx = torch.arange(12).view(3, 4)
    for p, (dy, dx) in enumerate(offsets):
        for y in range(3):
            for x in range(4):
                if 0 <= y + dy < 3 and 0 <= x + dx < 4:
                    i, j = idx[y, x], idx[y + dy, x + dx]
                    dense[i, j] = dense[j, i] = aff[p, y, x]**2
    assert torch.allclose(trans, dense / dense.sum(0, keepdim=True), atol=1e-6)


def test_random_walk_is_matrix_power_and_respects_low_affinity():
    torch.manual_seed(0)
    offsets = radius_offsets(2)
    aff = torch.rand(len(offsets), 3, 3)
    maps = torch.rand(2, 3, 3)
    trans = transition_matrix(aff, offsets, beta=3).to_dense()
    expected = maps.view(2, 9) @ torch.linalg.matrix_power(trans, 4)
    for dense_limit in (0, 9):  # the unfold and the dense paths
        out = random_walk(maps, aff, offsets, beta=3, logt=2, dense_limit=dense_limit)
        assert torch.allclose(out.view(2, 9), expected, atol=1e-5)
    # a constant score stays constant (columns sum to 1)
    const = random_walk(torch.full((1, 3, 3), 0.4), aff, offsets)
    assert torch.allclose(const, torch.full_like(const, 0.4), atol=1e-5)
    # two regions (left column | the rest) with zero affinity between them do not mix
    feats = torch.zeros(1, 1, 3, 3)
    feats[..., 1:] = 100.
    aff = pairwise_affinity(feats, offsets)[0]
    maps = torch.zeros(1, 3, 3)
    maps[0, 0, 0] = 1.
    walked = random_walk(maps, aff, offsets, beta=8, logt=6)[0]
    assert walked[:, 1:].abs().max() < 1e-6
    # inside the column (a path of 3 with self loops) the walk reaches the consensus weighted by
    # the degrees (2, 3, 2): 2 / 7 of the corner's score
    assert torch.allclose(walked[:, 0], torch.full((3, ), 2 / 7), atol=1e-3)
    with pytest.raises(ValueError, match='random_walk'):
        random_walk(torch.zeros(1, 2, 2), aff, offsets)
