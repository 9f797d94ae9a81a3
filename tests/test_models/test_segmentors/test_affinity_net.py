"""AffinityNet: features on the affinity grid, the PSA loss, masks by random walk."""
import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.utils.compat import autocast_enabled

TINY_ARCH = dict(embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64, patch_size=8)


def _model(**kwargs):
    cfg = dict(type='AffinityNet',
               backbone=dict(type='MultiClassTokenViT', arch=TINY_ARCH, num_classes=1,
                             img_size=32),
               in_channels=(32, ), channels=(16, ), embed_dims=8, out_stride=4,
               image_branch=(8, 8), radius=3)
    cfg.update(kwargs)
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(cfg)


def _samples(n, hw=(32, 32), num_classes=3):
    samples = []
    for _ in range(n):
        s = SegDataSample(metainfo=dict(img_shape=hw, ori_shape=hw))
        label = torch.full((1, ) + hw, 255, dtype=torch.long)
        label[:, :16] = 0
        label[:, 16:, :16] = 2
        s.gt_sem_seg = PixelData(data=label)
        maps = torch.zeros(num_classes, *hw)
        maps[1, 16:, :16] = 0.9
        maps[1, 16:, 16:] = 0.3
        s.loc_maps = PixelData(data=maps)
        samples.append(s)
    return samples


def test_features_and_loss():
    model = _model()
    inputs = torch.rand(2, 3, 32, 32)
    feats = model.extract_feat(inputs)
    assert feats.shape == (2, 8, 8, 8)
    aff = model.encode_decode(inputs, None)
    assert aff.shape == (2, len(model.offsets), 8, 8) and (aff > 0).all() and (aff <= 1).all()
    losses = model.loss(inputs, _samples(2))
    assert {'loss_aff', 'aff_bg', 'aff_fg', 'aff_neg', 'pairs_bg', 'pairs_fg',
            'pairs_neg'} <= set(losses)
    losses['loss_aff'].backward()
    assert model.embed.weight.grad.abs().sum() > 0
    assert 0 < losses['pairs_neg'] < losses['pairs_bg'] < 1


def test_affinities_float32_under_bf16_autocast():
    """Near-identical features: in bf16 the affinities round to 1 (log(0) in the negative
    term); encode_decode computes them in float32 and the loss stays finite."""
    from mmseg_mctformer.models.losses.affinity_loss import affinity_loss_terms
    from mmseg_mctformer.models.utils.random_walk import pair_valid_mask, pairwise_affinity
    model = _model()
    with torch.no_grad():
        model.embed.weight.mul_(1e-3)
    inputs = torch.rand(2, 3, 32, 32)
    valid = pair_valid_mask((8, 8), model.offsets, inputs.device).expand(2, -1, -1, -1)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        feats = model.extract_feat(inputs)
        aff = model.encode_decode(inputs, None)
        losses = model.loss(inputs, _samples(2))
    assert feats.dtype == torch.bfloat16 and aff.dtype == torch.float32
    assert (aff[valid] > 0.99).all()
    # bf16 all the way: 1 + 1e-5 rounds to 1, so log(1 + eps - a) of a pair with a == 1 is -inf
    rounded = pairwise_affinity(feats, model.offsets)
    neg = valid & (rounded == 1)
    assert neg.any()
    false = torch.zeros_like(neg)
    assert not torch.isfinite(affinity_loss_terms(rounded, false, false, neg)['neg'])
    assert torch.isfinite(affinity_loss_terms(aff, false, false, neg)['neg'])
    assert torch.isfinite(losses['loss_aff'])
    losses['loss_aff'].backward()
    assert torch.isfinite(model.embed.weight.grad).all()


def test_frozen_backbone_gets_no_gradient():
    model = _model(freeze_backbone=True).train()
    assert not model.backbone.training
    model.loss(torch.rand(1, 3, 32, 32), _samples(1))['loss_aff'].backward()
    assert all(p.grad is None for p in model.backbone.parameters())


def test_predict_with_and_without_random_walk():
    torch.manual_seed(0)
    model = _model(test_cfg=dict(bg_threshold=0.5, random_walk=False)).eval()
    out = model.predict(torch.rand(1, 3, 32, 32), _samples(1))[0]
    # without the walk: the seed at the background threshold
    expected = torch.zeros(32, 32, dtype=torch.long)
    expected[16:, :16] = 2
    assert torch.equal(out.pred_sem_seg.data[0], expected)
    assert out.seg_logits.data.shape == (4, 32, 32)
    assert torch.equal(out.seg_logits.data.argmax(0), out.pred_sem_seg.data[0])
    model.test_cfg.update(random_walk=True, logt=2)
    walked = model.predict(torch.rand(1, 3, 32, 32), _samples(1))[0]
    assert walked.pred_sem_seg.data.shape == (1, 32, 32)
    assert set(walked.pred_sem_seg.data.unique().tolist()) <= {0, 2}
    with pytest.raises(KeyError, match='loc_maps'):
        model.predict(torch.rand(1, 3, 32, 32), [SegDataSample()])


def test_config_errors():
    with pytest.raises(ValueError, match='same length'):
        _model(in_channels=(32, 64))
    model = _model(in_index=(3, ))
    with pytest.raises(IndexError, match='in_index'):
        model.extract_feat(torch.rand(1, 3, 32, 32))


def test_random_walk_in_float32_under_bf16_autocast(monkeypatch):
    """bfloat16 inference (``--amp`` of the pipeline on a CPU): the features may be bfloat16,
    the walk (a transition matrix raised to 2^logt) runs in float32 with autocast off."""
    from mmseg_mctformer.models.segmentors import affinity_net
    seen = []
    walk = affinity_net.random_walk

    def spy(scores, aff, *args):
        seen.append((scores.dtype, aff.dtype, autocast_enabled('cpu')))
        return walk(scores, aff, *args)

    monkeypatch.setattr(affinity_net, 'random_walk', spy)
    torch.manual_seed(0)
    model = _model(test_cfg=dict(bg_threshold=0.5, random_walk=True, logt=2)).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        ref = model.predict(x, _samples(1))[0]
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = model.predict(x, _samples(1))[0]
    assert seen == [(torch.float32, torch.float32, False)] * 2
    assert out.seg_logits.data.dtype == torch.float32
    agree = (out.pred_sem_seg.data == ref.pred_sem_seg.data).float().mean()
    assert agree > 0.95
