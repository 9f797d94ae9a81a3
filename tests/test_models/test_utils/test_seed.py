import pytest
import torch

from mmseg_mctformer.models.utils import kept_class_mask, seed_labels, seed_scores


def test_seed_labels_rule_ties_and_kept_classes():
    maps = torch.tensor([[[0.2, 0.6, 0.9]], [[0.5, 0.6, 0.1]]])  # (C=2, H=1, W=3)
    # argmax([t, maps]): ties go to the background, then to the lower class index
    assert seed_labels(maps, 0.5).tolist() == [[0, 1, 1]]
    assert seed_labels(maps, 0.9).tolist() == [[0, 0, 0]]
    assert seed_labels(maps, [0.0, 0.5]).tolist() == [[[2, 1, 1]], [[0, 1, 1]]]
    expected = seed_scores(maps, 0.3).argmax(0)
    assert torch.equal(seed_labels(maps, 0.3), expected)
    # a class that is not kept never wins, whatever its map (mask or indices)
    assert seed_labels(maps, 0.05, torch.tensor([False, True])).tolist() == [[2, 2, 2]]
    assert seed_labels(maps, 0.1, torch.tensor([0])).tolist() == [[1, 1, 1]]
    assert seed_labels(maps, 0.0, torch.tensor([], dtype=torch.long)).tolist() == [[0, 0, 0]]


def test_seed_scores_and_errors():
    maps = torch.rand(3, 4, 5)
    scores = seed_scores(maps, 0.45)
    assert scores.shape == (4, 4, 5) and torch.all(scores[0] == 0.45)
    assert torch.equal(scores[1:], maps)
    # the maps of some classes only: the same layout, the other classes 0
    some = seed_scores(maps[[0, 2]], 0.45, torch.tensor([0, 2]), 3)
    assert torch.equal(some[[0, 1, 3]], scores[[0, 1, 3]]) and torch.all(some[2] == 0)
    with pytest.raises(ValueError, match='num_classes is required'):
        seed_scores(maps[:1], 0.45, torch.tensor([0]))
    assert kept_class_mask(None, 2).tolist() == [True, True]
    with pytest.raises(ValueError, match='length 3, expected num_classes=2'):
        kept_class_mask(torch.ones(3, dtype=torch.bool), 2)
    with pytest.raises(ValueError, match=r'0..1, got \[2\]'):
        kept_class_mask(torch.tensor([2]), 2)
    with pytest.raises(ValueError, match=r'\(C, H, W\)'):
        seed_labels(torch.zeros(4, 5), 0.5)
