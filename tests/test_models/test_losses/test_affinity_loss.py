"""PSA affinity loss on hand-computed values."""
import math

import pytest
import torch

from mmseg_mctformer.models.losses import AffinityLoss, affinity_loss_terms


def test_affinity_loss_terms_and_weights():
    aff = torch.tensor([[[[0.5, 0.25]], [[0.9, 0.1]]]], requires_grad=True)  # (1, 2, 1, 2)
    pos_bg = torch.tensor([[[[True, False]], [[False, False]]]])
    pos_fg = torch.tensor([[[[False, True]], [[True, False]]]])
    neg = torch.tensor([[[[False, False]], [[False, True]]]])
    terms = affinity_loss_terms(aff, pos_bg, pos_fg, neg, eps=0)
    assert terms['bg'].item() == pytest.approx(-math.log(0.5))
    assert terms['fg'].item() == pytest.approx(-(math.log(0.25) + math.log(0.9)) / 2)
    assert terms['neg'].item() == pytest.approx(-math.log(0.9), rel=1e-4)
    loss = AffinityLoss(loss_weight=2.0)(aff, pos_bg, pos_fg, neg)
    expected = 2 * (terms['bg'] / 2 + terms['fg'] / 2 + terms['neg'])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)
    loss.backward()
    assert aff.grad is not None and aff.grad.abs().sum() > 0


def test_affinity_loss_empty_terms_and_errors():
    aff = torch.full((1, 1, 2, 2), 0.5)
    none = torch.zeros(1, 1, 2, 2, dtype=torch.bool)
    assert affinity_loss_terms(aff, none, none, none)['fg'].item() == 0
    with pytest.raises(ValueError, match='pos_fg'):
        affinity_loss_terms(aff, none, none[..., :1], none)
    with pytest.raises(ValueError, match='loss_'):
        AffinityLoss(loss_name='aff')
