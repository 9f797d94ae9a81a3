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
    cached = 'context_cache_size' in kwargs or 'context_cache_flip' in kwargs
    cfg = dict(type='CachedTwoPathBackbone' if cached else 'TwoPathBackbone',
               context_path=TINY_VIT, spatial_path=STEM)
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


def test_context_cache_reuses_features_and_matches_the_uncached_path():
    # context_scale: only the images missing from the cache are resized and run
    cached = build(frozen_context_path=True, context_cache_size=3, context_scale=2.0)
    plain = build(frozen_context_path=True, context_scale=2.0)
    plain.load_state_dict(cached.state_dict())
    cached.train()
    plain.train()
    x = torch.randn(4, 3, 32, 32)
    first = cached(x)
    assert (cached.context_cache.hits, cached.context_cache.misses) == (0, 4)
    assert len(cached.context_cache) == 3  # full: the 4th image is computed, not stored
    # the same images in another order and a flipped one: 3 hits, 2 computed
    again = cached(torch.cat([x.flip(0), x[:1].flip(-1)]))
    assert (cached.context_cache.hits, cached.context_cache.misses) == (3, 6)
    reference = plain(torch.cat([x.flip(0), x[:1].flip(-1)]))
    torch.testing.assert_close(again[1], reference[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(again[1][:4], first[1].flip(0), atol=1e-5, rtol=1e-5)
    # the spatial path is never cached: it trains
    (again[0].mean() + again[1].mean()).backward()
    assert all(p.grad is not None for p in cached.spatial_path.parameters() if p.requires_grad)
    # new weights: stale features are dropped
    cached.load_state_dict(plain.state_dict())
    assert len(cached.context_cache) == 0


def test_context_cache_needs_a_frozen_context_path():
    with pytest.raises(ValueError, match='frozen_context_path'):
        build(context_cache_size=8)
    with pytest.raises(ValueError, match='context_cache_size'):
        build(frozen_context_path=True, context_cache_size=-1)


def test_several_vit_blocks_as_context_maps():
    vit = dict(type='MultiClassTokenViT', num_classes=3, img_size=32, drop_path_rate=0.0,
               out_indices=(0, 1),
               arch=dict(embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32,
                         patch_size=8))
    outs = build(context_path=vit, frozen_context_path=True,
                 context_cache_size=4)(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 8, 8), (2, 16, 4, 4), (2, 16, 4, 4)]


def test_context_cache_flip_reuses_the_mirrored_features():
    model = build(frozen_context_path=True, context_cache_size=8, context_cache_flip=True)
    model.train()
    x = torch.randn(2, 3, 32, 32)
    first = model(x)[1]
    # the flipped images: no forward, the cached features flipped back
    mirrored = model(x.flip(-1))[1]
    assert (model.context_cache.hits, model.context_cache.misses) == (2, 2)
    assert len(model.context_cache) == 2
    torch.testing.assert_close(mirrored, first.flip(-1), atol=0, rtol=0)
    # a new image still runs; without the option a flipped copy is another entry
    model(torch.randn(1, 3, 32, 32))
    assert model.context_cache.misses == 3
    plain = build(frozen_context_path=True, context_cache_size=8)
    plain(x)
    plain(x.flip(-1))
    assert (plain.context_cache.hits, plain.context_cache.misses) == (0, 4)
    with pytest.raises(TypeError, match='context_cache_size'):
        build(frozen_context_path=True, context_cache_flip=True)


def test_cache_arguments_on_the_uncached_backbone_name_the_cached_one():
    cfg = dict(type='TwoPathBackbone', context_path=TINY_VIT, spatial_path=STEM,
               frozen_context_path=True, context_cache_size=8, context_cache_flip=True)
    with DefaultScope.overwrite_default_scope('mmseg'):
        with pytest.raises(TypeError, match='CachedTwoPathBackbone'):
            MODELS.build(cfg)
        with pytest.raises(TypeError, match='context_sclae'):
            MODELS.build(dict(type='TwoPathBackbone', context_path=TINY_VIT, spatial_path=STEM,
                              context_sclae=2.0))


def test_context_cache_flip_features_do_not_depend_on_the_cache_history():
    """Which of an image and its mirror runs is fixed by their hashes: a model that saw the
    mirrors first (an uninterrupted run) and a fresh one (a resumed run, empty cache) give the
    same features, bit for bit."""
    torch.manual_seed(0)
    seen = build(frozen_context_path=True, context_cache_size=8, context_cache_flip=True)
    fresh = build(frozen_context_path=True, context_cache_size=8, context_cache_flip=True)
    fresh.load_state_dict(seen.state_dict())
    x = torch.randn(4, 3, 32, 32)
    seen.context_cache(x.flip(-1), seen._context)  # the mirrors first
    after_history = seen.context_cache(x, seen._context)
    assert seen.context_cache.hits == 4
    for a, b in zip(after_history, fresh.context_cache(x, fresh._context)):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
