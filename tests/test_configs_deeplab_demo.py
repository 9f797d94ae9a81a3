"""The demo's final segmentor: MMSeg's DeepLabV3 on the converted DINOv2 ViT-S/14 (mmpretrain ViT).

The config is built as shipped, with only the ViT shrunk (2 layers, 16 dims, 8 px patches) and its
checkpoint replaced by a synthetic one written through ``tools/convert_weights.py
--dst-format mmpretrain``, the same path the Makefile uses for the real weights.
"""
import importlib.util
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

import mmseg_mctformer  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'deeplabv3',
                  'deeplabv3_vit-s14-dinov2-frozen_1xb16-90it_demo-224x224.py')
D, F, L, P = 16, 32, 2, 8


def timm_state():
    """A DeiT/timm ViT state dict with LayerScale (``ls1/ls2.gamma``), grid 2 x 2 at 8 px."""
    g = torch.Generator().manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=g)

    s = {'cls_token': randn(1, 1, D), 'pos_embed': randn(1, 1 + 4, D),
         'patch_embed.proj.weight': randn(D, 3, P, P), 'patch_embed.proj.bias': randn(D),
         'norm.weight': randn(D), 'norm.bias': randn(D)}
    for i in range(L):
        b = f'blocks.{i}.'
        for name, shape in (('norm1.weight', (D, )), ('norm1.bias', (D, )),
                            ('attn.qkv.weight', (3 * D, D)), ('attn.qkv.bias', (3 * D, )),
                            ('attn.proj.weight', (D, D)), ('attn.proj.bias', (D, )),
                            ('ls1.gamma', (D, )), ('norm2.weight', (D, )), ('norm2.bias', (D, )),
                            ('mlp.fc1.weight', (F, D)), ('mlp.fc1.bias', (F, )),
                            ('mlp.fc2.weight', (D, F)), ('mlp.fc2.bias', (D, )),
                            ('ls2.gamma', (D, ))):
            s[b + name] = randn(*shape)
    return s


def convert_to_mmpretrain(tmp_path):
    """``tools/convert_weights.py SRC DST --dst-format mmpretrain`` on :func:`timm_state`."""
    path = osp.join(ROOT, 'tools', 'convert_weights.py')
    spec = importlib.util.spec_from_file_location('convert_weights_tool', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    src = timm_state()
    torch.save({'model': src}, tmp_path / 'deit.pth')
    dst = str(tmp_path / 'vit_mmpretrain.pth')
    tool.main([str(tmp_path / 'deit.pth'), dst, '--dst-format', 'mmpretrain'])
    return src, dst


def tiny_model_cfg(checkpoint):
    cfg = Config.fromfile(CONFIG)
    model = cfg.model
    assert model.backbone.type == 'mmpretrain.VisionTransformer'
    assert model.decode_head.type == 'ASPPHead'
    assert model.backbone.init_cfg.checkpoint == cfg.pretrained_backbone
    model.backbone.update(arch=dict(embed_dims=D, num_layers=L, num_heads=2,
                                    feedforward_channels=F),
                          img_size=2 * P, patch_size=P, frozen_stages=L,
                          init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
    model.decode_head.update(in_channels=D, channels=8)
    model.data_preprocessor.size = (4 * P, 4 * P)
    return model


def test_backbone_loads_converted_weights_strictly(tmp_path):
    register_all_modules(init_default_scope=True)
    src, dst = convert_to_mmpretrain(tmp_path)
    model = MODELS.build(tiny_model_cfg(dst))
    state = torch.load(dst, weights_only=True)['state_dict']
    result = model.backbone.load_state_dict(dict(state), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    # the config's Pretrained init loads the same file into the backbone
    model.init_weights()
    vit = model.backbone
    torch.testing.assert_close(vit.cls_token, src['cls_token'])
    torch.testing.assert_close(vit.pos_embed, src['pos_embed'])
    torch.testing.assert_close(vit.layers[1].attn.qkv.weight, src['blocks.1.attn.qkv.weight'])
    torch.testing.assert_close(vit.layers[1].attn.gamma1.weight, src['blocks.1.ls1.gamma'])
    torch.testing.assert_close(vit.layers[1].ffn.gamma2.weight, src['blocks.1.ls2.gamma'])
    torch.testing.assert_close(vit.ln1.weight, src['norm.weight'])
    assert vit.layers[0].ln1.eps == vit.ln1.eps == 1e-6


def test_segmentor_forward_backward_trains_only_the_head(tmp_path):
    register_all_modules(init_default_scope=True)
    _, dst = convert_to_mmpretrain(tmp_path)
    model = MODELS.build(tiny_model_cfg(dst))
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
    assert all(not p.requires_grad and p.grad is None for p in model.backbone.parameters())
    head_grads = [p.grad for p in model.decode_head.parameters() if p.requires_grad]
    assert head_grads and all(g is not None for g in head_grads)
    assert any(g.abs().sum() > 0 for g in head_grads)
    model.eval()
    with torch.no_grad():
        out = model.predict(data['inputs'], data['data_samples'])
    assert out[0].pred_sem_seg.data.shape == (1, 32, 32)
    assert out[1].seg_logits.data.shape == (num_classes, 24, 32)
