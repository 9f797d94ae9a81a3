import copy

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.cli import configure_test
from mmseg_mctformer.models.heads.localization_test_cfg import (
    DEFAULT_TEST_CFG,
    parse_test_cfg,
    resolve_aliases,
)
from mmseg_mctformer.utils import console

C, D, P = 3, 16, 8
MODEL = dict(
    type='MCTformer',
    backbone=dict(type='MultiClassTokenViT',
                  arch=dict(embed_dims=D, num_layers=2, num_heads=2, feedforward_channels=32,
                            patch_size=P),
                  num_classes=C, img_size=32, drop_path_rate=0.0),
    cls_head=dict(type='ClassTokenPoolHead', num_classes=C, in_channels=D),
    cam_head=dict(type='PatchCAMHead', num_classes=C, in_channels=D, pool='gwrp'),
    test_cfg=dict(scales=(1.0, 0.5), flip=True, top_k=2))


@pytest.fixture
def log(monkeypatch):
    """The deprecation messages printed, with a fresh once-a-process memory."""
    messages = []
    monkeypatch.setattr(console, '_LOGGED_ONCE', set())
    monkeypatch.setattr(console, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    return messages


def _build(**test_cfg):
    cfg = copy.deepcopy(MODEL)
    cfg['test_cfg'].update(test_cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


def test_old_attn_path_value_is_an_alias_warned_once(log):
    assert parse_test_cfg(dict(attn_path='fused'))['attn_path'] == 'sdpa'
    assert resolve_aliases(dict(attn_path='fused', top_k=2)) == dict(attn_path='sdpa', top_k=2)
    assert len(log) == 1
    assert "test_cfg['attn_path'] = 'fused' is deprecated, use 'sdpa'" in log[0]
    # the new names, and the other keys, pass through without a message
    assert parse_test_cfg(dict(attn_path='sdpa'))['attn_path'] == 'sdpa'
    assert parse_test_cfg(dict(attn_path='explicit'))['attn_path'] == 'explicit'
    assert parse_test_cfg(dict(map_type='fused'))['map_type'] == 'fused'  # a map, not a kernel
    assert len(log) == 1


def test_old_config_value_gives_the_same_outputs(log):
    """A config written with attn_path='fused' builds the same model: equal seeds and maps."""
    old, new = _build(attn_path='fused'), _build(attn_path='sdpa')
    assert old.test_cfg == new.test_cfg and old.test_cfg['attn_path'] == 'sdpa'
    assert len(log) == 1
    img = torch.randn(1, 3, 24, 32, generator=torch.Generator().manual_seed(1))
    sample = SegDataSample(metainfo=dict(img_shape=(24, 32), ori_shape=(24, 32)))
    sample.gt_class_labels = torch.tensor([1, 0, 1])
    with torch.no_grad():
        a = old.predict(img, [copy.deepcopy(sample)])[0]
        b = new.predict(img, [copy.deepcopy(sample)])[0]
    assert torch.equal(a.seg_logits.data, b.seg_logits.data)
    assert torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)


def test_defaults_and_errors_name_the_key():
    cfg = parse_test_cfg(None)
    assert cfg == dict(DEFAULT_TEST_CFG, scales=tuple(DEFAULT_TEST_CFG['scales']))
    assert cfg['attn_path'] == 'sdpa' and cfg['map_type'] == 'fused_affinity'
    with pytest.raises(ValueError, match=r"attn_path'\] = 'flash', expected one of "
                                         r"\('sdpa', 'explicit'\)"):
        parse_test_cfg(dict(attn_path='flash'))
    with pytest.raises(ValueError, match="needs a cam_head"):
        parse_test_cfg(dict(map_type='patchcam'), has_cam_head=False)
    with pytest.warns(UserWarning, match=r"keys \['scale'\] are ignored"):
        parse_test_cfg(dict(scale=1.0))


def test_configure_test_reads_the_defaults_from_the_head_module():
    cfg = Config(dict(model=copy.deepcopy(MODEL), work_dir='w',
                      test_dataloader=dict(dataset=dict(pipeline=[]))))
    cfg.model['test_cfg'] = dict(scales=(1.0, ), flip=False)
    configure_test(cfg, tta=True)
    assert tuple(cfg.model.test_cfg.scales) == DEFAULT_TEST_CFG['scales']
    assert cfg.model.test_cfg.flip is True
