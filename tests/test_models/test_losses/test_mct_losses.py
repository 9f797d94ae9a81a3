import math

import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.models.losses import (
    ContrastiveClassTokenLoss,
    MultiLabelSoftMarginLoss,
    cct_loss,
)


def test_multilabel_soft_margin_hand_computed():
    loss = MODELS.build(dict(type='MultiLabelSoftMarginLoss', loss_weight=2.0,
                             loss_name='loss_cls_token'))
    assert loss.loss_name == 'loss_cls_token'
    scores = torch.tensor([[0.0, 2.0]])
    labels = torch.tensor([[1, 0]])
    # -mean(log s(0), log s(-2)) = mean(log 2, log(1 + e^2))
    expected = 2.0 * (math.log(2.0) + math.log(1 + math.exp(2.0))) / 2
    assert loss(scores, labels).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match=r'\(1, 2\).*\(1, 3\)'):
        loss(scores, torch.zeros(1, 3))
    with pytest.raises(ValueError, match="start with 'loss_'"):
        MultiLabelSoftMarginLoss(loss_name='cls')


def test_multilabel_soft_margin_half_scores_are_upcast():
    loss = MultiLabelSoftMarginLoss()
    out = loss(torch.tensor([[30.0, -30.0]]).half(), torch.tensor([[1, 0]]))
    assert out.dtype == torch.float32 and torch.isfinite(out)


def _orthogonal_tokens(scale, batch=2, num_classes=3, dims=8):
    eye = torch.eye(dims)[:num_classes]  # (C, D) orthonormal rows
    return (scale * eye).expand(batch, -1, -1).clone()


def test_cct_orthogonal_tokens_hand_computed_and_minimal():
    s = 2.0
    tokens = _orthogonal_tokens(s)
    # S = s^2 I: each row's CE = log(1 + (C - 1) exp(-s^2))
    expected = math.log(1 + 2 * math.exp(-s * s))
    loss = ContrastiveClassTokenLoss(layers='all')
    assert loss([tokens, tokens]).item() == pytest.approx(expected, rel=1e-6)
    # among tokens of norm s with non-negative similarities, orthogonal ones are the minimum
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        rand = torch.randn(2, 3, 8, generator=g).abs()
        rand = rand / rand.norm(dim=-1, keepdim=True) * s
        assert loss([rand]).item() > expected
    # with negative similarities allowed, the regular simplex (dots -s^2 / 2) is lower still
    simplex = torch.tensor([[1.0, 0.0], [-0.5, 3**0.5 / 2], [-0.5, -(3**0.5) / 2]]) * s
    simplex_loss = math.log(1 + 2 * math.exp(-1.5 * s * s))
    assert loss([simplex[None]]).item() == pytest.approx(simplex_loss, rel=1e-4)
    assert simplex_loss < expected
    # larger orthogonal tokens -> smaller loss
    assert loss([_orthogonal_tokens(3.0)]).item() < expected
    # identical tokens give the chance level log C
    same = torch.ones(2, 3, 8)
    assert loss([same]).item() == pytest.approx(math.log(3), rel=1e-6)


def test_cct_layer_selection_and_weight():
    a, b, c = (_orthogonal_tokens(s) for s in (1.0, 2.0, 3.0))
    per = [cct_loss([t]).item() for t in (a, b, c)]
    assert cct_loss([a, b, c], 'all').item() == pytest.approx(sum(per) / 3, rel=1e-6)
    assert cct_loss([a, b, c], 1).item() == pytest.approx(per[2], rel=1e-6)
    assert cct_loss([a, b, c], 2).item() == pytest.approx((per[1] + per[2]) / 2, rel=1e-6)
    assert cct_loss([a, b, c], [0, -1]).item() == pytest.approx((per[0] + per[2]) / 2, rel=1e-6)
    assert cct_loss([a, b, c], 'none').item() == 0.0
    weighted = ContrastiveClassTokenLoss(layers=[0], loss_weight=0.5)
    assert weighted([a, b, c]).item() == pytest.approx(0.5 * per[0], rel=1e-6)
    assert weighted.loss_name == 'loss_cct'


def test_cct_matches_cross_entropy_definition():
    g = torch.Generator().manual_seed(1)
    t = torch.randn(2, 4, 5, generator=g)
    sim = t @ t.transpose(1, 2)
    expected = sum(F.cross_entropy(sim[i], torch.arange(4)) for i in range(2)) / 2
    assert cct_loss([t]).item() == pytest.approx(expected.item(), rel=1e-5)


def test_cct_gradient_reaches_every_layer():
    tokens = [torch.randn(2, 3, 8, requires_grad=True) for _ in range(4)]
    ContrastiveClassTokenLoss()(tokens).backward()
    for t in tokens:
        assert t.grad is not None and t.grad.abs().sum() > 0


def test_cct_fp16_large_norm_is_finite():
    # D = 384, entries ~20: |T|^2 ~ 1.5e5 overflows float16, the loss computes in float32
    g = torch.Generator().manual_seed(2)
    t = (20 * torch.randn(2, 20, 384, generator=g)).half()
    gram = t.float() @ t.float().transpose(1, 2)  # exact; torch 2.1 has no float16 CPU bmm
    assert (gram.abs() > torch.finfo(torch.float16).max).any()
    out = cct_loss([t])
    assert out.dtype == torch.float32 and torch.isfinite(out)


def test_cct_errors():
    with pytest.raises(ValueError, match="layers must be 'all', 'none'"):
        ContrastiveClassTokenLoss(layers='last')
    with pytest.raises(ValueError, match=r'\[1, 2\], got 3'):
        cct_loss([torch.zeros(1, 2, 3)] * 2, 3)
    with pytest.raises(ValueError, match="start with 'loss_'"):
        ContrastiveClassTokenLoss(loss_name='cct')


def test_cct_cosine_label_weighted_hand_computed():
    """The authors' MCTformer+ CCT: cosine similarities, rows of the present classes only."""
    r = 2**-0.5
    tokens = torch.tensor([[[2., 0.], [0., 3.], [1., 1.]]])  # (1, 3, 2), not unit norm
    sim = torch.tensor([[1., 0., r], [0., 1., r], [r, r, 1.]])
    ce = -torch.log_softmax(sim, dim=1).diagonal()  # (3,)
    labels = torch.tensor([[1., 0., 1.]])
    loss = ContrastiveClassTokenLoss(layers=1, normalize=True, label_weighted=True)
    torch.testing.assert_close(loss([tokens], labels), (ce[0] + ce[2]) / (2 + 1e-8))
    # without labels: the mean over all rows
    plain = ContrastiveClassTokenLoss(layers=1, normalize=True)
    torch.testing.assert_close(plain([tokens]), ce.mean())
    # an image without labels contributes 0; the batch mean counts it
    two = torch.cat([tokens, tokens])
    both = loss([two], torch.tensor([[1., 0., 1.], [0., 0., 0.]]))
    torch.testing.assert_close(both, (ce[0] + ce[2]) / 2 / 2)
    with pytest.raises(ValueError, match='label_weighted=True needs the image labels'):
        loss([tokens])
    with pytest.raises(ValueError, match=r'labels have shape \(1, 2\), expected'):
        cct_loss([tokens], 'all', True, torch.ones(1, 2))


def test_cct_last_layers_and_normalisation_bound():
    torch.manual_seed(0)
    layers = [torch.randn(2, 4, 8) * 50 for _ in range(3)]
    labels = torch.tensor([[1., 1., 0., 0.], [0., 0., 1., 1.]])
    last2 = ContrastiveClassTokenLoss(layers=2, normalize=True, label_weighted=True)
    want = torch.stack([cct_loss([t], 'all', True, labels) for t in layers[1:]]).mean()
    torch.testing.assert_close(last2(layers, labels), want)
    # cosine logits lie in [-1, 1]: the loss stays within [log C - 2 + ..., log C + 2]
    assert abs(float(last2(layers, labels)) - math.log(4)) < 2
