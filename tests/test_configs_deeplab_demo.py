"""The demo's final segmentor: MMSeg's DeepLabV3+ on a frozen ViT (CachedTwoPathBackbone).

The config is built as shipped, with only the ViT shrunk (2 layers, 16 dims, 8 px patches) and
its checkpoint replaced by a synthetic DINOv2-like one (our layout) or by a stage-1 checkpoint
(``init_from_stage1``, as tools/run_pipeline.py sets it).
"""
import os.path as osp
import runpy

import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.engine.runner import set_init_from_stage1

ROOT = osp.dirname(osp.abspath(__file__))
CONFIG = osp.join(osp.dirname(ROOT), 'configs', 'deeplabv3plus',
                  'deeplabv3plus_vit-s14-frozen_1xb16-1500it_demo-pseudo-112x112.py')
ARCH = dict(embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32, patch_size=8)


def tiny_cfg():
    cfg = Config.fromfile(CONFIG)
    backbone = cfg.model.backbone
    assert backbone.type == 'CachedTwoPathBackbone' and backbone.frozen_context_path
    assert backbone.context_path.type == 'MultiClassTokenViT'
    assert backbone.context_path.init_cfg.checkpoint == cfg.pretrained_backbone
    # the demo's segmentor starts from DINOv2 also in tools/run_pipeline.py (not from stage 1)
    assert 'init_from_stage1' not in cfg
    # one cache entry per train image of `make demo` (tools/make_demo_data.py's default count):
    # the flipped copies reuse it (context_cache_flip)
    demo_data = runpy.run_path(osp.join(osp.dirname(ROOT), 'tools', 'make_demo_data.py'))
    assert backbone.context_cache_size >= demo_data['parse_args'](['data/demo']).num_train
    assert backbone.context_cache_flip
    assert cfg.model.decode_head.type == 'DepthwiseSeparableASPPHead'
    assert cfg.model.decode_head.in_index == 1  # ASPP on the ViT, c1 from the spatial path
    backbone.context_path.update(arch=ARCH, img_size=32)
    cfg.model.decode_head.update(in_channels=16, channels=8)
    cfg.model.data_preprocessor.size = (32, 32)
    return cfg


def stage1_checkpoint(tmp_path, cfg):
    """A stage-1-like checkpoint: the context path's own weights under ``backbone.``."""
    torch.manual_seed(1)
    vit = MODELS.build(cfg.model.backbone.context_path.copy() | dict(init_cfg=None))
    vit.init_weights()
    state = {'backbone.' + k: v for k, v in vit.state_dict().items()}
    state['cls_head.dummy'] = torch.zeros(1)
    path = str(tmp_path / 'stage1.pth')
    torch.save(dict(state_dict=state, meta={}), path)
    return vit, path


def test_context_path_loads_stage1_weights(tmp_path):
    register_all_modules(init_default_scope=True)
    cfg = tiny_cfg()
    vit, path = stage1_checkpoint(tmp_path, cfg)
    cfg.init_from_stage1 = 'model.backbone.context_path'  # as a config selecting it declares
    assert set_init_from_stage1(cfg, path)
    model = MODELS.build(cfg.model)
    model.init_weights()
    for name, value in vit.state_dict().items():
        torch.testing.assert_close(model.backbone.context_path.state_dict()[name], value)


def test_segmentor_forward_backward_trains_only_the_head_and_spatial_path(tmp_path):
    register_all_modules(init_default_scope=True)
    cfg = tiny_cfg()
    _, path = stage1_checkpoint(tmp_path, cfg)
    cfg.init_from_stage1 = 'model.backbone.context_path'
    assert set_init_from_stage1(cfg, path)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    num_classes = model.decode_head.num_classes
    assert num_classes == 7
    torch.manual_seed(0)
    inputs, samples = [], []
    for size in ((32, 32), (24, 32)):  # padded to the preprocessor's 32 x 32
        inputs.append(torch.randint(0, 256, (3, ) + size, dtype=torch.uint8))
        seg = torch.randint(0, num_classes, (1, ) + size)
        sample = SegDataSample(gt_sem_seg=PixelData(data=seg))
        sample.set_metainfo(dict(img_shape=size, ori_shape=size, pad_shape=size))
        samples.append(sample)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
    assert data['inputs'].shape == (2, 3, 32, 32)
    losses = model(**data, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    loss.backward()
    assert torch.isfinite(loss)
    vit = model.backbone.context_path
    assert all(not p.requires_grad and p.grad is None for p in vit.parameters())
    assert not any(m.training for m in vit.modules())
    for part in (model.decode_head, model.backbone.spatial_path):
        grads = [p.grad for p in part.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)
    model.eval()
    with torch.no_grad():
        out = model.predict(data['inputs'], data['data_samples'])
    assert out[0].pred_sem_seg.data.shape == (1, 32, 32)
    assert out[1].seg_logits.data.shape == (num_classes, 24, 32)
