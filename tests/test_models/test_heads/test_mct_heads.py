import pytest
import torch
from mmseg.registry import MODELS

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.models.heads import ClassTokenPoolHead, PatchCAMHead
from mmseg_mctformer.models.utils import gwrp_pool


def test_class_token_head_pooling_modes():
    tokens = torch.tensor([[[1.0, 2.0, 6.0], [-1.0, -3.0, 1.0]]])  # (B=1, C=2, D=3)
    avg = ClassTokenPoolHead(num_classes=2, in_channels=3)
    torch.testing.assert_close(avg(tokens), torch.tensor([[3.0, -1.0]]))
    mx = ClassTokenPoolHead(num_classes=2, in_channels=3, pool='max')
    torch.testing.assert_close(mx(tokens), torch.tensor([[6.0, 1.0]]))
    lin = ClassTokenPoolHead(num_classes=2, in_channels=3, pool='linear')
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]))
        lin.bias.copy_(torch.tensor([0.5, -0.5]))
    torch.testing.assert_close(lin(tokens), torch.tensor([[1.5, -2.5]]))
    assert sum(p.numel() for p in avg.parameters()) == 0


def test_class_token_head_loss_dict():
    head = MODELS.build(dict(type='ClassTokenPoolHead', num_classes=2, in_channels=3))
    tokens = torch.zeros(1, 2, 3)
    losses = head.loss(tokens, torch.tensor([[1.0, 0.0]]))
    assert list(losses) == ['loss_cls_token']
    # scores 0: loss = log 2
    assert losses['loss_cls_token'].item() == pytest.approx(0.6931472, rel=1e-6)


def test_patch_cam_head_scores_and_cams():
    head = PatchCAMHead(num_classes=2, in_channels=4, kernel_size=1, pool='gap')
    x = torch.randn(2, 4, 3, 5)
    cams, scores = head(x)
    assert cams.shape == (2, 2, 3, 5)
    torch.testing.assert_close(scores, cams.mean(dim=(2, 3)))
    gwrp = PatchCAMHead(num_classes=2, in_channels=4, pool='gwrp', gwrp_decay=0.9)
    cams, scores = gwrp(x)
    torch.testing.assert_close(scores, gwrp_pool(cams, 0.9))
    gmp = PatchCAMHead(num_classes=2, in_channels=4, pool='gmp')
    cams, scores = gmp(x)
    torch.testing.assert_close(scores, cams.flatten(2).amax(-1))
    losses = gmp.loss(x, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert list(losses) == ['loss_patch_cam']


def test_patch_cam_head_init_and_conv_padding():
    head = PatchCAMHead(num_classes=3, in_channels=4)
    head.init_weights()
    assert head.conv.kernel_size == (3, 3) and head.conv.padding == (1, 1)
    assert torch.all(head.conv.bias == 0)
    assert 0.01 < head.conv.weight.std().item() < 0.03  # trunc-normal, std 0.02


def test_head_errors():
    with pytest.raises(ValueError, match="unknown pool 'mean'"):
        ClassTokenPoolHead(num_classes=2, pool='mean')
    with pytest.raises(ValueError, match="unknown pool 'avg'"):
        PatchCAMHead(num_classes=2, pool='avg')
    with pytest.raises(ValueError, match='kernel_size must be odd'):
        PatchCAMHead(num_classes=2, kernel_size=2)
    with pytest.raises(ValueError, match=r'\(B, 2, 3\), got \(1, 3, 3\)'):
        ClassTokenPoolHead(num_classes=2, in_channels=3)(torch.zeros(1, 3, 3))
    with pytest.raises(ValueError, match='D=4'):
        PatchCAMHead(num_classes=2, in_channels=4)(torch.zeros(1, 5, 2, 2))
