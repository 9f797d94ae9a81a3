import pytest
import torch
from mmcv.cnn.bricks.drop import DropPath

from mmseg_mctformer.models.utils import LeanDropPath


def test_identity_when_not_training_or_zero():
    x = torch.randn(4, 5, 6)
    layer = LeanDropPath(0.3).eval()
    assert layer(x) is x
    assert LeanDropPath(0.0).train()(x) is x
    with pytest.raises(ValueError, match='drop_prob must lie in'):
        LeanDropPath(1.0)


def test_whole_samples_dropped_or_rescaled_with_mmcv_law():
    """Each sample's branch is 0 or x / keep, as mmcv's DropPath; the keep rate matches."""
    torch.manual_seed(0)
    keep = 0.7
    x = torch.rand(4000, 3, 2) + 0.5
    # 1 for kept samples, 0 for dropped ones
    ours = (LeanDropPath(1 - keep).train()(x) / x * keep).round(decimals=4)
    theirs = (DropPath(1 - keep).train()(x) / x * keep).round(decimals=4)
    for out in (ours, theirs):
        per_sample = out.flatten(1)
        assert torch.all(per_sample == per_sample[:, :1])  # one decision a sample
        assert set(per_sample[:, 0].unique().tolist()) == {0.0, 1.0}
    assert ours.flatten(1)[:, 0].mean().item() == pytest.approx(keep, abs=0.03)
    assert theirs.flatten(1)[:, 0].mean().item() == pytest.approx(keep, abs=0.03)


def test_gradient_is_the_mask():
    torch.manual_seed(1)
    x = torch.randn(64, 4, requires_grad=True)
    out = LeanDropPath(0.5).train()(x)
    out.sum().backward()
    mask = out.detach() / x.detach()
    torch.testing.assert_close(x.grad, mask)


def test_used_by_the_backbone_blocks():
    from mmseg_mctformer.models.backbones import MultiClassTokenViT
    model = MultiClassTokenViT(arch=dict(embed_dims=16, num_layers=2, num_heads=2,
                                         feedforward_channels=32),
                               img_size=32, num_classes=3, drop_path_rate=0.2)
    layer = model.layers[1]
    assert isinstance(layer.drop_path, LeanDropPath)
    assert isinstance(layer.ffn.dropout_layer, LeanDropPath)
    assert layer.drop_path.drop_prob == pytest.approx(0.2)
