import pytest
import torch
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS

import mmseg_mctformer  # noqa: F401

TINY_VIT = dict(type='mmpretrain.VisionTransformer',
                arch=dict(embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32),
                img_size=32, patch_size=8, out_type='featmap')
STEM = dict(type='ResNetV1c', depth=18, num_stages=1, out_indices=(0, ), strides=(1, ),
            dilations=(1, ), stem_channels=8, base_channels=8)


def build(**kwargs):
    cfg = dict(type='TwoPathBackbone', context_path=TINY_VIT, spatial_path=STEM)
    cfg.update(kwargs)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg)
    model.init_weights()
    return model


def test_outputs_spatial_first_then_context():
    model = build()
    outs = model(torch.randn(2, 3, 32, 48))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 8, 12), (2, 16, 4, 6)]


def test_context_scale_resizes_only_the_context_path():
    model = build(context_scale=2.0)
    spatial, context = model(torch.randn(1, 3, 32, 32))
    assert spatial.shape[-2:] == (8, 8) and context.shape[-2:] == (8, 8)


def test_frozen_context_path_gets_no_gradient_and_stays_in_eval_mode():
    model = build(frozen_context_path=True)
    model.train()
    assert model.spatial_path.training
    assert not any(m.training for m in model.context_path.modules())
    spatial, context = model(torch.randn(2, 3, 32, 32))
    (spatial.mean() + context.mean()).backward()
    assert all(p.grad is None for p in model.context_path.parameters())
    assert all(p.grad is not None for p in model.spatial_path.parameters() if p.requires_grad)


def test_bad_arguments():
    with pytest.raises(ValueError, match='context_scale'):
        build(context_scale=0)
    model = build()
    model.context_path.forward = lambda x: {'tokens': x}
    with pytest.raises(KeyError, match='patch_tokens'):
        model(torch.randn(1, 3, 32, 32))
    model.context_path.forward = lambda x: 3
    with pytest.raises(TypeError, match='featmap'):
        model(torch.randn(1, 3, 32, 32))


def test_multi_class_token_vit_as_context_path():
    vit = dict(type='MultiClassTokenViT', num_classes=3, img_size=32, drop_path_rate=0.0,
               arch=dict(embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32,
                         patch_size=8))
    spatial, context = build(context_path=vit, frozen_context_path=True)(torch.randn(2, 3, 32, 32))
    assert spatial.shape == (2, 8, 8, 8) and context.shape == (2, 16, 4, 4)


def test_trainable_context_path_gets_gradients():
    model = build()
    model.train()
    spatial, context = model(torch.randn(2, 3, 32, 32))
    (spatial.mean() + context.mean()).backward()
    assert all(p.grad is not None for p in model.context_path.layers.parameters())
