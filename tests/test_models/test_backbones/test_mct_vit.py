import copy

import pytest
import torch
import torch.nn as nn
from mmseg.registry import MODELS

from mmseg_mctformer.models.backbones import (
    MCTViTOutput,
    MultiClassTokenAttention,
    MultiClassTokenViT,
    tokens_to_map,
)
from mmseg_mctformer.utils import convert_mmpretrain, save_converted

TINY = dict(embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32, patch_size=8,
            pos_grid=4)


def tiny(**kwargs):
    cfg = dict(arch=dict(TINY), num_classes=3, drop_path_rate=0.)
    cfg.update(kwargs)
    model = MultiClassTokenViT(**cfg)
    model.init_weights()
    return model


def test_matches_mmpretrain_deit_small():
    """One class token: same tokens as mmpretrain's DeiT-S with its weights converted."""
    from mmpretrain.models import VisionTransformer
    torch.manual_seed(0)
    theirs = VisionTransformer(arch='deit-small', img_size=224, patch_size=16, out_type='raw',
                               out_indices=[-1], final_norm=True)
    theirs.init_weights()
    nn.init.normal_(theirs.cls_token, std=0.02)
    theirs.eval()
    ours = MultiClassTokenViT(arch='deit-small', num_classes=1, drop_path_rate=0.,
                              final_norm=True).eval()
    ours.load_state_dict(convert_mmpretrain(theirs.state_dict()), strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        ref = theirs(x)[0]  # (B, 1 + 196, D)
        out = ours(x)
    torch.testing.assert_close(out.cls_token, ref[:, :1], atol=1e-5, rtol=0)
    torch.testing.assert_close(out.patch_tokens,
                               ref[:, 1:].transpose(1, 2).reshape(2, 384, 14, 14),
                               atol=1e-5, rtol=0)


def test_output_record_and_sdpa_equals_explicit():
    torch.manual_seed(0)
    model = tiny(num_classes=3).eval()
    x = torch.randn(2, 3, 24, 32)  # 3 x 4 tokens
    with torch.no_grad():
        fused = model(x)
        explicit = model(x, attn_path='explicit')
    assert isinstance(fused, MCTViTOutput) and fused.attention is None
    assert len(fused.cls_tokens) == 2
    assert fused.cls_token.shape == (2, 3, 16)
    assert fused.patch_tokens.shape == (2, 16, 3, 4)
    assert fused.cls_tokens[-1] is fused.cls_token
    for key in ('cls_token', 'patch_tokens'):
        torch.testing.assert_close(getattr(fused, key), getattr(explicit, key), atol=1e-5, rtol=0)
    for a, b in zip(fused.cls_tokens, explicit.cls_tokens):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    assert explicit.attention.path == 'explicit'
    assert len(explicit.attention.weights) == 2
    for attn in explicit.attention.weights:
        assert attn.shape == (2, 3 + 12, 3 + 12)
        assert (attn >= 0).all()
        torch.testing.assert_close(attn.sum(-1), torch.ones(2, 15), atol=1e-5, rtol=0)


def test_return_qk_matches_explicit_attention_rows():
    """attn_path='sdpa': same tokens as without attention, class rows == explicit attn[:, :C],
    q/k rebuild the attention."""
    torch.manual_seed(0)
    model = tiny(num_classes=3).eval()
    x = torch.randn(2, 3, 24, 32)  # 3 x 4 tokens, N = 15
    with torch.no_grad():
        fast = model(x, attn_path='sdpa')
        explicit = model(x, attn_path='explicit')
        fused = model(x)
    assert fast.attention.path == 'sdpa' and fast.attention.weights is None
    for key in ('cls_token', 'patch_tokens'):
        torch.testing.assert_close(getattr(fast, key), getattr(fused, key), atol=0, rtol=0)
    att = fast.attention
    assert len(att.cls_rows) == len(att.q) == len(att.k) == 2
    scale = model.layers[0].attn.scale
    for rows, q, k, attn in zip(att.cls_rows, att.q, att.k, explicit.attention.weights):
        assert rows.shape == (2, 3, 15)
        assert q.shape == k.shape == (2, 2, 15, 8)  # (B, H, N, D / H)
        torch.testing.assert_close(rows, attn[:, :3], atol=1e-6, rtol=0)
        full = ((q * scale) @ k.transpose(-2, -1)).softmax(-1).mean(1)
        torch.testing.assert_close(full, attn, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="unknown attn_path 'fused'"):
        model(x, attn_path='fused')


def test_attention_uniform_by_hand():
    """q = k = 0 gives uniform attention 1/N; v = identity, proj = identity -> token mean."""
    attn = MultiClassTokenAttention(embed_dims=4, num_heads=2)
    with torch.no_grad():
        attn.qkv.weight.zero_()
        attn.qkv.bias.zero_()
        attn.qkv.weight[8:].copy_(torch.eye(4))
        attn.proj.weight.copy_(torch.eye(4))
        attn.proj.bias.zero_()
    x = torch.tensor([[[1., 2., 3., 4.], [3., 2., 1., 0.], [2., 2., 2., 8.]]])  # (1, 3, 4)
    expected = torch.tensor([2., 2., 2., 4.]).expand(1, 3, 4)
    for attn_path in (None, 'explicit'):
        out, a = attn(x, attn_path=attn_path)
        torch.testing.assert_close(out, expected)
    torch.testing.assert_close(a, torch.full((1, 3, 3), 1 / 3))


def test_pos_embed_non_square_input():
    model = tiny(num_classes=2).eval()
    D = 16
    rows = torch.arange(4.).view(4, 1, 1).expand(4, 4, D)  # value = row index, constant along w
    with torch.no_grad():
        model.pos_embed[0, 0] = 7.
        model.pos_embed[0, 1:] = rows.reshape(16, D)
    pos = model.interpolate_pos_embed((4, 6))
    assert pos.shape == (1, 1 + 24, D)
    torch.testing.assert_close(pos[0, 0], torch.full((D, ), 7.))
    expected = torch.arange(4.).view(4, 1, 1).expand(4, 6, D).reshape(24, D)
    torch.testing.assert_close(pos[0, 1:], expected, atol=1e-5, rtol=0)
    assert model.interpolate_pos_embed((4, 4)) is model.pos_embed
    out = model(torch.randn(1, 3, 32, 48))
    assert out.patch_tokens.shape == (1, D, 4, 6)
    assert out.cls_token.shape == (1, 2, D)


def test_drop_path_only_in_train_mode():
    torch.manual_seed(0)
    model = tiny(drop_path_rate=0.5)
    plain = tiny(drop_path_rate=0.)
    plain.load_state_dict(model.state_dict())
    plain.eval()
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        ref = plain(x).cls_token
        model.train()  # the last block's branches are dropped or scaled by 1 / (1 - 0.5)
        assert not torch.allclose(model(x).cls_token, ref)
        model.eval()
        torch.testing.assert_close(model(x).cls_token, ref)
    assert model.layers[-1].drop_path.drop_prob == 0.5
    assert model.layers[0].drop_path.drop_prob == 0.


def test_final_norm_applies_ln1():
    model = tiny(final_norm=False).eval()
    normed = copy.deepcopy(model)
    normed.final_norm = True
    x = torch.randn(1, 3, 16, 24)
    with torch.no_grad():
        raw, out = model(x), normed(x)
        torch.testing.assert_close(out.cls_token, model.ln1(raw.cls_token))
        torch.testing.assert_close(
            out.patch_tokens,
            model.ln1(raw.patch_tokens.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))


def test_input_not_divisible_by_patch():
    with pytest.raises(ValueError, match=r'30x32 is not divisible by the patch size 8'):
        tiny()(torch.randn(1, 3, 30, 32))


def test_tokens_to_map_names_three_numbers():
    x = torch.arange(2 * 5 * 1.).view(1, 5, 2)
    torch.testing.assert_close(tokens_to_map(x, 1, (2, 2)),
                               torch.tensor([[[[2., 4.], [6., 8.]], [[3., 5.], [7., 9.]]]]))
    with pytest.raises(AssertionError, match=r'N=5 .*C=2 .*h\*w=2\*2=4'):
        tokens_to_map(x, 2, (2, 2))


def test_arch_presets_and_errors():
    model = MultiClassTokenViT(arch='deit-t', num_classes=5)
    assert model.num_extra_tokens == 5
    assert model.pos_embed.shape == (1, 1 + 14 * 14, 192)
    assert model.cls_token.shape == (1, 5, 192)
    assert isinstance(model.layers[0].gamma1, nn.Identity)
    assert model.ln1.eps == 1e-6
    assert MultiClassTokenViT.arch_zoo['dinov2-s'] == MultiClassTokenViT.arch_zoo['dinov2-small']
    assert MultiClassTokenViT.arch_zoo['dinov2-small']['pos_grid'] == 37
    assert MultiClassTokenViT.arch_zoo['dinov2-large']['num_layers'] == 24
    ls = tiny(arch=dict(TINY, layer_scale=1e-5))
    torch.testing.assert_close(ls.layers[1].gamma1.weight, torch.full((16, ), 1e-5))
    torch.testing.assert_close(ls.layers[1].ffn.gamma2.weight, torch.full((16, ), 1e-5))
    grid = MultiClassTokenViT(arch=dict(TINY, pos_grid=None), img_size=(32, 48))
    assert grid.pos_grid == (4, 6)
    with pytest.raises(ValueError, match=r"unknown arch 'vit-xl'.*deit-small"):
        MultiClassTokenViT(arch='vit-xl')
    with pytest.raises(ValueError, match=r"missing \['num_heads'\]"):
        MultiClassTokenViT(arch=dict(embed_dims=8, num_layers=1, feedforward_channels=8))
    with pytest.raises(ValueError, match='cls_token_init'):
        tiny(cls_token_init='zeros')


def test_load_single_class_token_and_other_grid():
    model = tiny(num_classes=3)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    token = torch.randn(1, 1, 16)
    state['cls_token'] = token
    state['pos_embed'] = torch.cat([torch.full((1, 1, 16), 5.), torch.full((1, 4, 16), 2.)], 1)
    assert not model.load_state_dict(dict(state)).missing_keys
    torch.testing.assert_close(model.cls_token, token.expand(1, 3, 16))
    assert model.pos_embed.shape == (1, 17, 16)
    torch.testing.assert_close(model.pos_embed[0, 0], torch.full((16, ), 5.))
    torch.testing.assert_close(model.pos_embed[0, 1:], torch.full((16, 16), 2.))

    random_tokens = tiny(num_classes=3, cls_token_init='trunc_normal')
    before = random_tokens.cls_token.detach().clone()
    random_tokens.load_state_dict(dict(state))
    torch.testing.assert_close(random_tokens.cls_token, before)
    # a checkpoint with C tokens (our own) loads as is in both modes
    state['cls_token'] = torch.randn(1, 3, 16)
    random_tokens.load_state_dict(dict(state))
    torch.testing.assert_close(random_tokens.cls_token, state['cls_token'])


def test_load_shape_mismatch_names_key():
    model = tiny()
    state = model.state_dict()
    bad = dict(state, **{'layers.1.attn.proj.weight': torch.zeros(16, 8)})
    with pytest.raises(ValueError, match=r"'layers.1.attn.proj.weight' has shape \(16, 8\), "
                       r'the model expects \(16, 16\)'):
        model.load_state_dict(bad)
    with pytest.raises(ValueError, match=r"'cls_token' has shape \(1, 2, 16\)"):
        model.load_state_dict(dict(state, cls_token=torch.zeros(1, 2, 16)))
    with pytest.raises(ValueError, match=r"'pos_embed' has shape \(1, 6, 16\)"):
        model.load_state_dict(dict(state, pos_embed=torch.zeros(1, 6, 16)))
    # one class token: the expected shape is said once
    single = tiny(num_classes=1)
    with pytest.raises(ValueError, match=r"\(1, 2, 16\), expected \(1, 1, 16\)$"):
        single.load_state_dict(dict(single.state_dict(), cls_token=torch.zeros(1, 2, 16)))


def test_init_cfg_pretrained(tmp_path):
    source = tiny(num_classes=1)
    path = save_converted(source.state_dict(), str(tmp_path / 'w.pth'))
    model = MODELS.build(
        dict(type='MultiClassTokenViT', arch=dict(TINY), num_classes=4,
             init_cfg=dict(type='Pretrained', checkpoint=path)))
    model.init_weights()
    torch.testing.assert_close(model.cls_token, source.cls_token.expand(1, 4, 16))
    torch.testing.assert_close(model.layers[1].ffn.layers[1].weight,
                               source.layers[1].ffn.layers[1].weight)


def test_deit_small_parameter_count():
    model = MultiClassTokenViT(arch='deit-small', num_classes=20)
    total = sum(p.numel() for p in model.parameters()) + 384 * 20 * 9 + 20  # + 3x3 PatchCAM conv
    assert abs(total - 21.8e6) / 21.8e6 < 0.01


def test_unused_final_norm_is_frozen():
    from mmseg_mctformer.models.backbones import MultiClassTokenViT
    arch = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64, patch_size=8)
    off = MultiClassTokenViT(arch=arch, num_classes=3, img_size=32, final_norm=False)
    on = MultiClassTokenViT(arch=arch, num_classes=3, img_size=32, final_norm=True)
    assert not any(p.requires_grad for p in off.ln1.parameters())
    assert all(p.requires_grad for p in on.ln1.parameters())
    out = off(torch.rand(1, 3, 32, 32))
    sum(v.sum() for v in (out.cls_token, out.patch_tokens)).backward()
    assert all(p.grad is not None for p in off.parameters() if p.requires_grad)


def test_per_class_position_entries_from_a_single_entry_checkpoint():
    """The authors' code: C class position entries, each a copy of DeiT's class entry."""
    model = tiny(num_classes=3, cls_pos_embed='per_class')
    assert model.pos_embed.shape == (1, 3 + 16, 16)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state['pos_embed'] = torch.cat([torch.full((1, 1, 16), 5.), torch.randn(1, 16, 16)], 1)
    model.load_state_dict(dict(state))
    torch.testing.assert_close(model.pos_embed[0, :3], torch.full((3, 16), 5.))
    torch.testing.assert_close(model.pos_embed[:, 3:], state['pos_embed'][:, 1:])
    # the entries are separate parameters: class token c gets entry c
    with torch.no_grad():
        model.pos_embed[0, 1] += 1.0
    model.eval()
    x = torch.rand(1, 3, 32, 32)
    tokens = model(x).cls_tokens[0]
    shared = tiny(num_classes=3)
    assert shared.pos_embed.shape == (1, 1 + 16, 16)
    # a checkpoint with C entries does not fit one shared entry
    with pytest.raises(ValueError, match=r"'pos_embed' has shape \(1, 19, 16\).*E = 1"):
        shared.load_state_dict(dict(shared.state_dict(), pos_embed=model.pos_embed.detach()))
    assert tokens.shape == (1, 3, 16)


def test_nearest_grid_loading_repeats_each_entry_2x2():
    """MCTformer+ code: the 28 x 28 grid starts as DeiT's 14 x 14 repeated 2 x 2."""
    model = tiny(cls_pos_embed='per_class', pos_load_resize='nearest')  # 4 x 4 grid
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grid = torch.arange(4.).reshape(1, 4, 1).expand(1, 4, 16)  # 2 x 2 grid, entry i == i
    state['pos_embed'] = torch.cat([torch.zeros(1, 1, 16), grid], 1)
    model.load_state_dict(state)
    got = model.pos_embed[0, 3:, 0].reshape(4, 4)
    want = torch.tensor([[0., 0., 1., 1.], [0., 0., 1., 1.], [2., 2., 3., 3.], [2., 2., 3., 3.]])
    torch.testing.assert_close(got, want)


def test_pos_interp_offset_matches_the_v2_code_and_differs_from_size():
    size = tiny(cls_pos_embed='per_class')
    offset = tiny(cls_pos_embed='per_class', pos_interp='scale_factor_offset')
    offset.load_state_dict(size.state_dict())
    torch.testing.assert_close(size.interpolate_pos_embed((4, 4)), size.pos_embed)
    torch.testing.assert_close(offset.interpolate_pos_embed((4, 4)), size.pos_embed)
    a, b = size.interpolate_pos_embed((3, 5)), offset.interpolate_pos_embed((3, 5))
    assert a.shape == b.shape == (1, 3 + 15, 16)
    torch.testing.assert_close(a[:, :3], b[:, :3])
    grid = size.pos_embed[:, 3:].reshape(1, 4, 4, 16).permute(0, 3, 1, 2)
    want = torch.nn.functional.interpolate(grid, scale_factor=(3.1 / 4, 5.1 / 4), mode='bicubic')
    torch.testing.assert_close(b[:, 3:], want.flatten(2).transpose(1, 2))
    assert not torch.allclose(a[:, 3:], b[:, 3:])
    with pytest.raises(ValueError, match="unknown pos_interp 'dino'"):
        tiny(pos_interp='dino')
    with pytest.raises(ValueError, match="unknown cls_pos_embed 'one'"):
        tiny(cls_pos_embed='one')


def test_out_indices_return_the_patch_tokens_of_those_blocks():
    model = tiny(out_indices=(0, -1)).eval()
    x = torch.randn(2, 3, 16, 24)
    with torch.no_grad():
        out = model(x)
        first, last = out.feature_maps
        torch.testing.assert_close(last, out.patch_tokens)
        # block 0 alone: the model cut after its first block
        one = tiny(out_indices=(0, )).eval()
        one.load_state_dict(model.state_dict())
        one.layers = one.layers[:1]
        one.num_layers = 1
        torch.testing.assert_close(first, one(x).patch_tokens)
    assert first.shape == (2, 16, 2, 3)
    assert tiny()(x).feature_maps == ()
    with pytest.raises(ValueError, match='out_indices'):
        tiny(out_indices=(2, ))
    with pytest.raises(ValueError, match='out_indices'):
        tiny(out_indices=())


def test_bf16_cpu_attention_takes_the_explicit_softmax_up_to_the_token_limit(monkeypatch):
    """Under CPU bf16 autocast a short sequence skips the fused kernel (slow there, see
    benchmarks/bench_attention_paths.py); outputs and gradients stay close to float32."""
    from mmseg_mctformer.models.backbones import mct_vit
    calls = []
    sdpa = mct_vit.F.scaled_dot_product_attention
    monkeypatch.setattr(mct_vit.F, 'scaled_dot_product_attention',
                        lambda *a, **k: calls.append(a[0].shape[-2]) or sdpa(*a, **k))
    torch.manual_seed(0)
    attn = MultiClassTokenAttention(embed_dims=16, num_heads=2)
    x = torch.randn(2, 15, 16, requires_grad=True)
    ref = attn(x)[0]
    ref_grad, = torch.autograd.grad(ref.square().sum(), x)
    assert calls == [15]  # float32: the fused kernel
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = attn(x)[0]
    assert out.dtype == torch.bfloat16
    assert calls == [15]  # bf16, 15 tokens: explicit
    grad, = torch.autograd.grad(out.float().square().sum(), x)
    torch.testing.assert_close(out.float(), ref, atol=3e-2, rtol=3e-2)
    torch.testing.assert_close(grad, ref_grad, atol=5e-2, rtol=5e-2)
    # with attn_path='sdpa' the explicit float32 kernel still hands back q and k
    with torch.autocast('cpu', dtype=torch.bfloat16):
        _, (q, k) = attn(x, attn_path='sdpa')
    assert q.shape == k.shape == (2, 2, 15, 8) and calls == [15]
    monkeypatch.setattr(mct_vit, 'CPU_BF16_EXPLICIT_MAX_TOKENS', 14)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        attn(x)
    assert calls == [15, 15]  # above the limit: fused again


def test_attention_kernel_is_chosen_in_one_function():
    """attention_kernel: the explicit kernel when the weights are returned, the float32 explicit
    kernel for short bfloat16 sequences on a CPU, else scaled-dot-product attention."""
    from mmseg_mctformer.models.backbones import attention_kernel
    from mmseg_mctformer.models.backbones.mct_vit import CPU_BF16_EXPLICIT_MAX_TOKENS as limit
    short, long = torch.zeros(1, 2, limit, 8), torch.zeros(1, 2, limit + 1, 8)
    assert attention_kernel(short) == attention_kernel(short, 'sdpa') == 'sdpa'
    assert attention_kernel(short, 'explicit') == 'explicit'
    assert attention_kernel(short.bfloat16()) == 'explicit_float32'
    assert attention_kernel(short.bfloat16(), 'sdpa') == 'explicit_float32'
    assert attention_kernel(short.bfloat16(), 'explicit') == 'explicit'
    assert attention_kernel(long.bfloat16()) == 'sdpa'
    with pytest.raises(ValueError, match="unknown attn_path 'fused'"):
        attention_kernel(short, 'fused')


def test_block_attention_record_holds_the_fields_of_its_path():
    from mmseg_mctformer.models.backbones import BlockAttention
    weights = [torch.rand(2, 5, 5)]
    explicit = BlockAttention.explicit(weights, num_classes=2)
    assert explicit.path == 'explicit' and explicit.q is None and explicit.k is None
    assert torch.equal(explicit.cls_rows[0], weights[0][:, :2])
    q = k = [torch.rand(2, 3, 5, 4)]
    sdpa = BlockAttention.sdpa([weights[0][:, :2]], q, k)
    assert sdpa.path == 'sdpa' and sdpa.weights is None and sdpa.q[0] is q[0]
    with pytest.raises(ValueError, match="path 'sdpa' holds q and k only"):
        BlockAttention('sdpa', explicit.cls_rows, weights=weights)
    with pytest.raises(ValueError, match="unknown path 'fused'"):
        BlockAttention('fused', explicit.cls_rows, weights=weights)
