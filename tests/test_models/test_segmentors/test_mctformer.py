import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.models.utils import (
    class_to_patch_attention,
    localization_maps,
    minmax_normalise,
)

C, D, P = 3, 16, 8

BACKBONE = dict(
    type='MultiClassTokenViT',
    arch=dict(embed_dims=D, num_layers=2, num_heads=2, feedforward_channels=32, patch_size=P),
    num_classes=C,
    img_size=32,
    drop_path_rate=0.0)

MCTFORMER_V2 = dict(
    type='MCTformer',
    backbone=BACKBONE,
    cls_head=dict(type='ClassTokenPoolHead', num_classes=C, in_channels=D),
    cam_head=dict(type='PatchCAMHead', num_classes=C, in_channels=D, pool='gap'),
    cct_loss=None,
    test_cfg=dict(scales=(1.0, 0.5), flip=True, top_k=2))

MCTFORMER_PLUS = copy.deepcopy(MCTFORMER_V2)
MCTFORMER_PLUS['cam_head']['pool'] = 'gwrp'
MCTFORMER_PLUS['cct_loss'] = dict(type='ContrastiveClassTokenLoss', layers='all')


def _build(cfg=MCTFORMER_PLUS, **changes):
    cfg = copy.deepcopy(cfg)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _sample(labels, img_shape=None, ori_shape=None):
    sample = SegDataSample()
    if img_shape is not None:
        sample.set_metainfo(dict(img_shape=img_shape, ori_shape=ori_shape or img_shape))
    if labels is not None:
        sample.gt_class_labels = torch.tensor(labels)
    return sample


def test_config_switches_v2_and_plus():
    v2, plus = _build(MCTFORMER_V2), _build(MCTFORMER_PLUS)
    assert v2.cam_head.pool == 'gap' and v2.cct_loss is None
    assert plus.cam_head.pool == 'gwrp' and plus.cct_loss is not None
    inputs = torch.randn(2, 3, 32, 24)
    samples = [_sample([1, 0, 0]), _sample([0, 1, 1])]
    loss_v2 = v2.loss(inputs, samples)
    loss_plus = plus.loss(inputs, samples)
    assert {k for k in loss_v2 if k.startswith('loss_')} == {'loss_cls_token', 'loss_patch_cam'}
    assert {k for k in loss_plus if k.startswith('loss_')} == {
        'loss_cls_token', 'loss_patch_cam', 'loss_cct'}
    assert set(loss_plus) - set(loss_v2) == {'loss_cct'}
    # same weights: the class-token loss is identical, the PatchCAM loss differs by the pooling
    torch.testing.assert_close(loss_v2['loss_cls_token'], loss_plus['loss_cls_token'])
    assert not torch.allclose(loss_v2['loss_patch_cam'], loss_plus['loss_patch_cam'])


def test_loss_matches_components():
    model = _build()
    model.train()
    inputs = torch.randn(2, 3, 16, 24)
    labels = torch.tensor([[1, 0, 1], [0, 0, 1]])
    losses = model.loss(inputs, [_sample(lb) for lb in labels.tolist()])
    feats = model.backbone(inputs)
    y = labels.float()
    expected_cls = F.multilabel_soft_margin_loss(feats.cls_token.mean(-1), y)
    expected_cam = F.multilabel_soft_margin_loss(model.cam_head(feats.patch_tokens)[1], y)
    torch.testing.assert_close(losses['loss_cls_token'], expected_cls)
    torch.testing.assert_close(losses['loss_patch_cam'], expected_cam)
    assert 0 <= losses['acc_cls_token'].item() <= 100
    assert not losses['acc_cls_token'].requires_grad


def test_loss_weight_through_head_config():
    cfg = copy.deepcopy(MCTFORMER_PLUS)
    cfg['cls_head']['loss_cls'] = dict(
        type='MultiLabelSoftMarginLoss', loss_weight=0.5, loss_name='loss_cls_token')
    cfg['cct_loss']['loss_weight'] = 2.0
    inputs = torch.randn(1, 3, 16, 16)
    samples = [_sample([1, 0, 0])]
    base, weighted = _build().loss(inputs, samples), _build(cfg).loss(inputs, samples)
    torch.testing.assert_close(weighted['loss_cls_token'], 0.5 * base['loss_cls_token'])
    torch.testing.assert_close(weighted['loss_cct'], 2.0 * base['loss_cct'])


def test_train_step_gives_gradients_to_every_parameter():
    cfg = copy.deepcopy(MCTFORMER_PLUS)
    cfg['backbone']['final_norm'] = True  # otherwise backbone.ln1 is built but unused
    cfg['cls_head']['pool'] = 'linear'
    cfg['data_preprocessor'] = dict(
        type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True, size_divisor=P)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = _build(cfg)
    model.train()
    data = dict(
        inputs=[torch.randint(0, 256, (3, 20, 30), dtype=torch.uint8),
                torch.randint(0, 256, (3, 24, 17), dtype=torch.uint8)],
        data_samples=[_sample([1, 0, 1]), _sample([0, 1, 0])])
    batch = model.data_preprocessor(copy.deepcopy(data), True)
    assert batch['inputs'].shape == (2, 3, 24, 32)  # padded to the patch size
    total, log_vars = model.parse_losses(model(**batch, mode='loss'))
    total.backward()
    assert {'loss', 'loss_cls_token', 'loss_patch_cam', 'loss_cct', 'acc_cls_token'} <= set(
        log_vars)
    missing = [n for n, p in model.named_parameters()
               if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert missing == []
    # the full mmengine train step runs too
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    assert torch.isfinite(model.train_step(data, optim)['loss'])


def test_predict_batch_with_padding_and_ori_shape():
    model = _build(test_cfg=dict(map_type='mct_affinity'))
    model.eval()
    torch.manual_seed(1)
    img0 = torch.randn(3, 32, 40)
    img1 = torch.randn(3, 24, 24)
    inputs = torch.zeros(2, 3, 32, 40)  # bottom/right padding as SegDataPreProcessor
    inputs[0] = img0
    inputs[1, :, :24, :24] = img1
    samples = [_sample([1, 0, 1], (32, 40), (64, 80)), _sample([0, 1, 0], (24, 24), (20, 30))]
    with torch.no_grad():
        out = model.predict(inputs, samples)
        alone = model.predict(img1[None], [_sample([0, 1, 0], (24, 24), (20, 30))])[0]
    for sample, shape, labels in zip(out, [(64, 80), (20, 30)], ([1, 0, 1], [0, 1, 0])):
        logits = sample.seg_logits.data
        assert logits.shape == (C + 1, *shape) and logits.dtype == torch.float32
        assert sample.pred_sem_seg.data.shape == (1, *shape)
        torch.testing.assert_close(sample.pred_sem_seg.data, logits.argmax(0, keepdim=True))
        assert torch.all(logits[0] == 0.45)
        assert logits.min() >= 0 and logits.max() <= 1
        for c, kept in enumerate(labels):
            if kept:
                assert logits[c + 1].max() > 0.95
            else:
                assert torch.all(logits[c + 1] == 0)
        assert sample.pred_class_scores.shape == (C,)
        assert torch.all((sample.pred_class_scores > 0) & (sample.pred_class_scores < 1))
        # the kept classes and the threshold are stored once, for every consumer
        assert sample.kept_classes.tolist() == [bool(v) for v in labels]
        assert sample.bg_threshold == 0.45
    # the padding of image 1 does not change its result
    torch.testing.assert_close(out[1].seg_logits.data, alone.seg_logits.data)
    torch.testing.assert_close(out[1].pred_class_scores, alone.pred_class_scores)


def test_predict_batches_images_of_one_size():
    """Same-size images share each scale's forward (originals and flips in one batch), in chunks
    bounded by test_cfg.max_tokens; the results equal those of one image at a time."""
    model = _build(test_cfg=dict(map_type='fused_affinity', max_tokens=40))
    model.eval()
    torch.manual_seed(2)
    inputs = torch.randn(4, 3, 32, 32)
    labels = ([1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 1])
    shapes = ((32, 32), (32, 32), (32, 32), (24, 32))  # image 3: its own group (padded)
    sizes = []
    forward = model.backbone.forward
    model.backbone.forward = lambda x, **kw: sizes.append(tuple(x.shape)) or forward(x, **kw)
    with torch.no_grad():
        out = model.predict(inputs, [_sample(lab, shp) for lab, shp in zip(labels, shapes)])
        # 16 tokens an image at scale 1: two images (+ their flips) a forward within 40 tokens
        assert sizes[:4] == [(4, 3, 32, 32), (4, 3, 16, 16), (2, 3, 32, 32), (2, 3, 16, 16)]
        for i, (lab, (h, w)) in enumerate(zip(labels, shapes)):
            alone = model.predict(inputs[i:i + 1, :, :h, :w], [_sample(lab, (h, w))])[0]
            torch.testing.assert_close(out[i].seg_logits.data, alone.seg_logits.data)
            torch.testing.assert_close(out[i].pred_class_scores, alone.pred_class_scores)
            assert torch.equal(out[i].pred_sem_seg.data, alone.pred_sem_seg.data)


def test_predict_single_scale_matches_equations():
    model = _build(test_cfg=dict(scales=(1.0,), flip=True, map_type='mct', top_k=2,
                                 bg_threshold=0.3))
    model.eval()
    torch.manual_seed(2)
    img = torch.randn(1, 3, 16, 24)
    with torch.no_grad():
        out = model.predict(img, [_sample([1, 1, 0], (16, 24))])[0]
        both = torch.cat([img, img.flip(-1)])
        attn = model.backbone(both, attn_path='explicit').attention.weights
    maps = class_to_patch_attention(attn, C, (2, 3), top_k=2)
    maps = F.interpolate(maps, (16, 24), mode='bilinear', align_corners=False)
    summed = maps[0] + maps[1].flip(-1)
    summed[2] = 0
    expected = minmax_normalise(summed)
    # maps in [0, 1]: float32 sums in another order differ by ~1e-5 across PyTorch versions
    torch.testing.assert_close(out.seg_logits.data[1:], expected, rtol=0, atol=1e-4)
    assert torch.all(out.seg_logits.data[0] == 0.3)


def test_predict_resizes_scales_to_patch_multiples():
    model = _build()
    assert model.patch_size == P
    assert model.views.scaled_size((20, 30), 1.0) == (24, 32)
    assert model.views.scaled_size((20, 30), 0.5) == (8, 16)
    assert model.views.scaled_size((4, 4), 0.5) == (8, 8)
    model.eval()
    with torch.no_grad():
        out = model.predict(torch.randn(1, 3, 20, 30))[0]
    assert out.seg_logits.shape == (20, 30)


def test_predicted_classes_when_labels_not_used():
    model = _build(test_cfg=dict(scales=(1.0,), flip=False, use_gt_labels=False, score_thr=0.0,
                                 map_type='mct'))
    model.eval()
    with torch.no_grad():
        out = model.predict(torch.randn(1, 3, 16, 16), [_sample([1, 0, 0], (16, 16))])[0]
    # all sigmoid scores > 0: every class kept, whatever the labels
    assert all(out.seg_logits.data[c + 1].max() > 0.95 for c in range(C))
    model.test_cfg['score_thr'] = 1.0
    with torch.no_grad():
        out = model.predict(torch.randn(1, 3, 16, 16), [_sample(None, (16, 16))])[0]
    assert torch.all(out.seg_logits.data[1:] == 0)
    assert torch.all(out.pred_sem_seg.data == 0)
    assert not out.kept_classes.any()


def test_pretrained_argument_as_encoder_decoder(tmp_path):
    # mmseg.apis.init_model passes pretrained=None; a path becomes the backbone's init_cfg
    assert _build(pretrained=None).backbone.init_cfg is None
    cfg = copy.deepcopy(MCTFORMER_PLUS)
    cfg['pretrained'] = str(tmp_path / 'w.pth')
    model = MODELS.build(cfg)
    assert model.backbone.init_cfg == dict(type='Pretrained', checkpoint=str(tmp_path / 'w.pth'))


@pytest.mark.parametrize('map_type', ['mct', 'mct_affinity', 'patchcam', 'patchcam_affinity',
                                      'fused', 'fused_affinity'])
def test_tensor_mode_and_encode_decode(map_type):
    model = _build(test_cfg=dict(map_type=map_type, top_k=1))
    model.eval()
    inputs = torch.randn(2, 3, 16, 24)
    with torch.no_grad():
        raw = model(inputs, mode='tensor')
        feats = model.backbone(inputs, attn_path='explicit')
        cams, _ = model.cam_head(feats.patch_tokens)
        logits = model.encode_decode(inputs, [{}, {}])
    assert set(raw) == {'maps', 'cls_scores', 'cams', 'cam_scores'}
    torch.testing.assert_close(raw['maps'], localization_maps(feats, cams, C, map_type, 1))
    assert logits.shape == (2, C + 1, 16, 24)


def test_autocast_losses_and_maps_are_float32():
    model = _build()
    inputs = torch.randn(1, 3, 16, 16)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model.loss(inputs, [_sample([0, 1, 0])])
        model.eval()
        with torch.no_grad():
            out = model.predict(inputs, [_sample([0, 1, 0], (16, 16))])[0]
    assert all(losses[k].dtype == torch.float32 and torch.isfinite(losses[k])
               for k in losses if k.startswith('loss_'))
    assert out.seg_logits.data.dtype == torch.float32


def test_errors():
    model = _build()
    inputs = torch.randn(1, 3, 16, 16)
    with pytest.raises(KeyError, match="sample 0 .* no 'gt_class_labels'"):
        model.loss(inputs, [_sample(None)])
    with pytest.raises(ValueError, match='length 2, expected num_classes=3'):
        model.loss(inputs, [_sample([1, 0])])
    with pytest.raises(ValueError, match="map_type'\\] = 'cam'"):
        _build(test_cfg=dict(map_type='cam'))
    with pytest.raises(ValueError, match='needs a cam_head'):
        _build(cam_head=None, test_cfg=dict(map_type='fused'))
    with pytest.raises(ValueError, match='at least one of cls_head and cam_head'):
        _build(cls_head=None, cam_head=None)
    with pytest.raises(ValueError, match="unknown pool 'avg'"):
        _build(cam_head=dict(pool='avg'))
    with pytest.raises(ValueError, match='num_classes must agree'):
        _build(cls_head=dict(num_classes=4))
    with pytest.raises(ValueError, match="mode'\\] = 'slide'"):
        _build(test_cfg=dict(mode='slide'))


@pytest.mark.parametrize('map_type', ['mct_affinity', 'fused_affinity', 'fused', 'patchcam'])
def test_sdpa_attn_path_matches_explicit(map_type):
    """Default attn_path='sdpa' (no N x N matrix) == 'explicit' to 1e-4, same seeds."""
    model = _build(test_cfg=dict(map_type=map_type, scales=(1.0, 0.5, 1.5), flip=True))
    model.eval()
    assert model.test_cfg['attn_path'] == 'sdpa'
    with torch.no_grad():  # peaked attention: random init gives nearly flat maps, which the
        for layer in model.backbone.layers:  # min-max normalisation would amplify
            layer.attn.qkv.weight.mul_(20)
    torch.manual_seed(3)
    img = torch.randn(1, 3, 40, 56)
    samples = [_sample([1, 0, 1], (40, 56), (45, 60))]
    with torch.no_grad():
        fast = model.predict(img, copy.deepcopy(samples))[0]
        raw_fast = model(img, mode='tensor')
        model.test_cfg['attn_path'] = 'explicit'
        ref = model.predict(img, copy.deepcopy(samples))[0]
        raw_ref = model(img, mode='tensor')
    torch.testing.assert_close(raw_fast['maps'], raw_ref['maps'], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(fast.seg_logits.data, ref.seg_logits.data, rtol=0, atol=1e-4)
    assert torch.equal(fast.pred_sem_seg.data, ref.pred_sem_seg.data)


def test_sdpa_attn_path_calls_backbone_without_attention_matrices():
    model = _build(test_cfg=dict(map_type='fused_affinity'))
    model.eval()
    calls = []
    forward = model.backbone.forward

    def spy(x, attn_path=None):
        calls.append(attn_path)
        return forward(x, attn_path=attn_path)

    model.backbone.forward = spy
    with torch.no_grad():
        model(torch.randn(1, 3, 16, 16), mode='tensor')
        model.test_cfg['map_type'] = 'patchcam'
        model(torch.randn(1, 3, 16, 16), mode='tensor')
        model.test_cfg['attn_path'] = 'explicit'
        model.test_cfg['map_type'] = 'mct'
        model(torch.randn(1, 3, 16, 16), mode='tensor')
    assert calls == ['sdpa', None, 'explicit']


def test_max_tokens_bounds_the_inference_size():
    """An image far above test_cfg.max_tokens runs at a bounded size, output at ori_shape."""
    model = _build(test_cfg=dict(scales=(1.0, 2.0), flip=True, max_tokens=12))
    model.eval()
    assert model.views.scaled_size((24, 32), 1.0) == (24, 32)  # 3 x 4 = 12 tokens: kept
    assert model.views.scaled_size((24, 32), 2.0) == (24, 32)  # 6 x 8 = 48 -> 3 x 4
    assert model.views.scaled_size((8, 800), 1.0) == (8, 96)  # 1 x 100 -> 1 x 12
    sizes = []
    forward = model.backbone.forward
    model.backbone.forward = lambda x, **kw: sizes.append(tuple(x.shape)) or forward(x, **kw)
    img = torch.randn(1, 3, 300, 300)  # 37 x 37 tokens at scale 1, 75 x 75 at scale 2
    with torch.no_grad():
        out = model.predict(img, [_sample([1, 0, 0], (300, 300))])[0]
        logits = model.encode_decode(img, [{}])
    assert sizes == [(2, 3, 24, 24)] * 2 + [(1, 3, 24, 24)]  # 3 x 3 tokens
    assert out.seg_logits.shape == (300, 300) and logits.shape == (1, C + 1, 300, 300)
    model.test_cfg['max_tokens'] = None
    assert model.views.scaled_size((300, 300), 2.0) == (600, 600)


def test_attn_path_and_max_tokens_errors():
    with pytest.raises(ValueError, match="attn_path'\\] = 'flash'"):
        _build(test_cfg=dict(attn_path='flash'))
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="max_tokens'\\] = "):
            _build(test_cfg=dict(max_tokens=bad))


def test_checkpoints_with_the_heads_at_the_top_level_load(tmp_path):
    """The heads live in decode_head; a checkpoint written before (cls_head.*, cam_head.*, as the
    weight converters still write) loads strictly, through mmengine and the checkpoint check."""
    from mmengine.runner.checkpoint import load_checkpoint

    from mmseg_mctformer.utils import check_checkpoint_file
    cfg = copy.deepcopy(MCTFORMER_PLUS)
    cfg['cls_head']['pool'] = 'linear'  # a class-token head with weights too
    source = _build(cfg)
    assert source.cls_head is source.decode_head.cls_head
    assert source.cam_head is source.decode_head.cam_head
    state = source.state_dict()
    assert {'decode_head.cls_head.weight', 'decode_head.cam_head.conv.weight'} <= set(state)
    legacy = {k.replace('decode_head.', ''): v.clone() for k, v in state.items()}
    assert 'cam_head.conv.weight' in legacy and 'cls_head.bias' in legacy
    path = str(tmp_path / 'legacy.pth')
    torch.save(dict(state_dict=legacy, meta={}), path)
    torch.manual_seed(5)
    for load in ('load_state_dict', 'load_checkpoint'):
        target = MODELS.build(cfg)  # other random weights
        assert not torch.equal(target.cam_head.conv.weight, source.cam_head.conv.weight)
        assert check_checkpoint_file(target, path) == (len(state), len(state))
        if load == 'load_state_dict':
            target.load_state_dict(dict(legacy), strict=True)
        else:
            load_checkpoint(target, path, map_location='cpu', strict=True)
        for key, value in state.items():
            assert torch.equal(target.state_dict()[key], value), (load, key)
    with pytest.raises(ValueError, match="both 'cam_head.conv.bias' and "
                                         "'decode_head.cam_head.conv.bias'"):
        target.load_state_dict(dict(legacy, **{'decode_head.cam_head.conv.bias': torch.zeros(C)}))
