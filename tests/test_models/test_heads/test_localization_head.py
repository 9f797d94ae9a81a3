import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.models.heads import MCTLocalizationHead
from mmseg_mctformer.models.heads.localization_test_cfg import parse_test_cfg
from mmseg_mctformer.models.utils import localization_maps, minmax_normalise

C, D, P = 3, 16, 8
BACKBONE = dict(type='MultiClassTokenViT',
                arch=dict(embed_dims=D, num_layers=2, num_heads=2, feedforward_channels=32,
                          patch_size=P),
                num_classes=C, img_size=32, drop_path_rate=0.0)


def _head(cam_pool='gwrp', with_cls=True):
    torch.manual_seed(0)
    head = MODELS.build(dict(
        type='MCTLocalizationHead',
        cls_head=dict(type='ClassTokenPoolHead', num_classes=C, in_channels=D) if with_cls
        else None,
        cam_head=dict(type='PatchCAMHead', num_classes=C, in_channels=D, pool=cam_pool)))
    head.init_weights()
    return head.eval()


def _feats(attn_path='sdpa', shape=(2, 3, 16, 24)):
    torch.manual_seed(1)
    backbone = MODELS.build(BACKBONE).eval()
    with torch.no_grad():
        return backbone(torch.randn(*shape), attn_path=attn_path)


def test_head_composes_the_class_token_and_patchcam_heads():
    head = _head()
    assert isinstance(head, MCTLocalizationHead)
    assert [name for name, _ in head.named_children()] == ['cls_head', 'cam_head']
    assert set(head.state_dict()) == {'cam_head.conv.weight', 'cam_head.conv.bias'}
    with pytest.raises(ValueError, match='at least one of cls_head and cam_head'):
        MCTLocalizationHead()


def test_forward_calls_the_map_equations():
    head, feats = _head(), _feats()
    cfg = parse_test_cfg(dict(map_type='fused_affinity', top_k=2, fusion='sqrt'))
    with torch.no_grad():
        out = head(feats, cfg)
        cams, cam_scores = head.cam_head(feats.patch_tokens)
        expected = localization_maps(feats, cams, C, 'fused_affinity', 2, 'all', fusion='sqrt')
    assert set(out) == {'maps', 'cls_scores', 'cams', 'cam_scores'}
    assert torch.equal(out['maps'], expected)
    assert torch.equal(out['cls_scores'], feats.cls_token.mean(-1))
    assert torch.equal(out['cam_scores'], cam_scores)


def test_loss_of_both_heads():
    head, feats = _head(), _feats(None)
    labels = torch.tensor([[1., 0., 1.], [0., 1., 0.]])
    losses = head.loss(feats, labels)
    assert set(losses) == {'loss_cls_token', 'loss_patch_cam', 'acc_cls_token', 'acc_patch_cam'}
    torch.testing.assert_close(
        losses['loss_cls_token'],
        F.multilabel_soft_margin_loss(feats.cls_token.mean(-1), labels))
    torch.testing.assert_close(
        losses['loss_patch_cam'],
        F.multilabel_soft_margin_loss(head.cam_head(feats.patch_tokens)[1], labels))


def test_predict_gives_seg_logits_at_the_pad_shape():
    head, feats = _head(), _feats('explicit')
    cfg = parse_test_cfg(dict(map_type='mct', top_k=1, bg_threshold=0.3))
    metas = [dict(pad_shape=(20, 30)), dict(pad_shape=(20, 30))]
    with torch.no_grad():
        logits = head.predict(feats, metas, cfg)
        maps = F.interpolate(head(feats, cfg)['maps'], (20, 30), mode='bilinear',
                             align_corners=False)
    assert logits.shape == (2, C + 1, 20, 30)
    assert torch.all(logits[:, 0] == 0.3)
    assert torch.equal(logits[:, 1:], minmax_normalise(maps, cfg['minmax_eps']))


def test_predict_by_views_sums_scales_and_flips_of_the_kept_classes():
    """Two images, two scales with flips: each image's kept maps are its views upsampled to
    ori_shape, flipped back and summed, then min-max normalised; the scores are averaged."""
    head = _head(with_cls=False)
    cfg = parse_test_cfg(dict(map_type='patchcam', scales=(1.0, 0.5), flip=True,
                              bg_threshold=0.2))
    g = torch.Generator().manual_seed(2)
    views = [dict(maps=torch.rand(4, C, 2, 3, generator=g),
                  cam_scores=torch.randn(4, C, generator=g)) for _ in range(2)]
    views[1]['maps'] = views[1]['maps'][..., :1, :2]  # the smaller scale
    samples = [SegDataSample(), SegDataSample()]
    samples[0].gt_class_labels = torch.tensor([1, 0, 1])
    samples[1].gt_class_labels = torch.tensor([0, 0, 0])
    head.predict_by_views(views, samples, (4, 6), cfg)
    for i, sample in enumerate(samples):
        total = torch.zeros(C, 4, 6)
        probs = torch.zeros(C)
        for view in views:
            for j, flipped in ((i, False), (i + 2, True)):
                up = F.interpolate(view['maps'][j][None], (4, 6), mode='bilinear',
                                   align_corners=False)[0]
                total += up.flip(-1) if flipped else up
                probs += view['cam_scores'][j].sigmoid()
        keep = samples[i].gt_class_labels > 0
        expected = minmax_normalise(total, cfg['minmax_eps']) * keep[:, None, None]
        torch.testing.assert_close(sample.seg_logits.data[1:], expected)
        assert torch.all(sample.seg_logits.data[0] == 0.2)
        torch.testing.assert_close(sample.pred_class_scores, probs / 4)
        assert sample.kept_classes.tolist() == keep.tolist() and sample.bg_threshold == 0.2
    assert torch.all(samples[1].pred_sem_seg.data == 0)  # no class kept: all background
