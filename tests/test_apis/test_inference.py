"""MMSeg's own inference entry points on a stage-1 config, and inference_seeds."""
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmseg.apis import MMSegInferencer, inference_model, init_model
from mmseg.registry import MODELS
from PIL import Image

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.apis import inference_seeds
from mmseg_mctformer.datasets import DemoWSSSDataset
from mmseg_mctformer.engine.runner import load_config

DEMO = 'configs/mctformer/mctformer-plus_dinov2-s_1xb32-2e_demo-112x112.py'
D = 16
# the demo config with a tiny backbone (the pipeline, heads, test_cfg and visualizer are its own)
TINY = {
    'model.backbone.arch': dict(embed_dims=D, num_layers=2, num_heads=2, feedforward_channels=32,
                                patch_size=14, pos_grid=4, _delete_=True),
    'model.cls_head.in_channels': D,
    'model.cam_head.in_channels': D,
    'model.test_cfg.top_k': 2,
}


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('inference')
    cfg = load_config(DEMO, TINY)
    with DefaultScope.overwrite_default_scope('mmseg'):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
    checkpoint = str(tmp / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(DemoWSSSDataset.METAINFO))), checkpoint)
    cfg_file = str(tmp / 'tiny_demo.py')
    cfg.dump(cfg_file)
    img = str(tmp / 'img.jpg')
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 40, 3), np.uint8)).save(img)
    return cfg_file, checkpoint, img


def test_init_model_and_inference_model(demo):
    cfg_file, checkpoint, img = demo
    model = init_model(cfg_file, checkpoint, device='cpu')  # passes pretrained=None
    assert model.dataset_meta['classes'] == DemoWSSSDataset.METAINFO['classes']
    result = inference_model(model, img)
    assert result.pred_sem_seg.data.shape == (1, 30, 40)
    assert result.seg_logits.data.shape == (7, 30, 40)


def test_mmseg_inferencer(demo, tmp_path):
    cfg_file, checkpoint, img = demo
    inferencer = MMSegInferencer(model=cfg_file, weights=checkpoint, device='cpu')
    out = inferencer(img, out_dir=str(tmp_path), return_datasamples=False)
    assert out['predictions'].shape == (30, 40)
    assert (tmp_path / 'vis' / 'img.jpg').is_file()
    assert (tmp_path / 'pred' / '00000000_pred.png').is_file()


def test_inference_seeds_with_and_without_labels(demo):
    cfg_file, checkpoint, img = demo
    model = init_model(cfg_file, checkpoint, device='cpu')
    out = inference_seeds(model, img, labels=[1, 4])
    assert out['kept_classes'].tolist() == [False, True, False, False, True, False]
    assert out['maps'].shape == (6, 30, 40) and torch.all(out['maps'][[0, 2, 3, 5]] == 0)
    assert set(out['seed'].unique().tolist()) <= {0, 2, 5}
    assert out['bg_threshold'] == model.test_cfg['bg_threshold']
    # without labels it is MMSeg's inference_model
    model.test_cfg['score_thr'] = 0.4
    assert torch.equal(inference_seeds(model, img)['seed'],
                       inference_model(model, img).pred_sem_seg.data[0])
    # no labels: the classes scored above score_thr (none for score_thr = 1)
    model.test_cfg['score_thr'] = 1.0
    bgr = np.asarray(Image.open(img))[..., ::-1].copy()
    with pytest.warns(UserWarning, match=r'no class score of .* exceeds test_cfg.score_thr=1.0 '
                      r'\(highest: class \d, 0\.\d{3}\), so its seed is all background'):
        out = inference_seeds(model, bgr)
    assert not out['kept_classes'].any() and torch.all(out['seed'] == 0)
    assert out['class_scores'].shape == (6,)


def test_no_warning_when_a_class_passes_score_thr(demo, recwarn):
    cfg_file, checkpoint, img = demo
    model = init_model(cfg_file, checkpoint, device='cpu')
    model.test_cfg['score_thr'] = 0.0
    assert inference_seeds(model, img)['kept_classes'].all()
    assert not [w for w in recwarn if 'score_thr' in str(w.message)]


def test_inference_seeds_refuses_a_segmentor_that_is_not_mctformer():
    from mmseg.models import EncoderDecoder
    model = EncoderDecoder(
        backbone=dict(type='ResNetV1c', depth=18, num_stages=1, out_indices=(0, ),
                      strides=(1, ), dilations=(1, )),
        decode_head=dict(type='FCNHead', in_channels=64, channels=8, num_convs=1, num_classes=3))
    with pytest.raises(TypeError, match='expected an MCTformer .* got EncoderDecoder; use '
                       'mmseg.apis.inference_model'):
        inference_seeds(model, np.zeros((8, 8, 3), np.uint8))
