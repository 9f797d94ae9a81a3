import pytest
import torch

from mmseg_mctformer.models.backbones import BlockAttention, MCTViTOutput
from mmseg_mctformer.models.utils import (
    class_to_patch_attention,
    fuse_maps,
    localization_maps,
    minmax_normalise,
    patch_affinity,
    refine_with_affinity,
    refine_with_attention_affinity,
    select_layers,
)

C, H, W = 2, 1, 2  # 2 classes, 1 x 2 token grid -> N = 4


def _feats(patch_tokens, attention=None):
    """A backbone record holding only what the maps read: patch tokens and the attention."""
    return MCTViTOutput(cls_tokens=[], cls_token=torch.zeros(0), patch_tokens=patch_tokens,
                        attention=attention)


def _attn(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, C + H * W, C + H * W, generator=g)


def _hand_attns():
    # 3 layers; class-to-patch block and patch-to-patch block chosen by hand
    a0 = torch.zeros(1, 4, 4)
    a0[0, 2:, 2:] = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    a0[0, :2, 2:] = torch.tensor([[9.0, 9.0], [9.0, 9.0]])  # dropped with top_k=2
    a1 = torch.zeros(1, 4, 4)
    a1[0, :2, 2:] = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    a1[0, 2:, 2:] = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    a2 = torch.zeros(1, 4, 4)
    a2[0, :2, 2:] = torch.tensor([[1.0, 2.0], [0.5, 0.0]])
    a2[0, 2:, 2:] = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    return [a0, a1, a2]


def test_class_to_patch_attention_sums_last_k():
    attns = _hand_attns()
    mct = class_to_patch_attention(attns, C, (H, W), top_k=2)
    assert mct.shape == (1, C, H, W)
    torch.testing.assert_close(mct, torch.tensor([[[[2.0, 2.0]], [[1.0, 0.5]]]]))
    mct_all = class_to_patch_attention(attns, C, (H, W), top_k=3)
    torch.testing.assert_close(mct_all, mct + 9.0)


def test_patch_affinity_sums_layers():
    attns = _hand_attns()
    torch.testing.assert_close(patch_affinity(attns, C), torch.tensor([[[1.0, 1.0], [1.0, 1.0]]]))
    torch.testing.assert_close(patch_affinity(attns, C, layers=1),
                               torch.tensor([[[0.0, 0.0], [1.0, 0.0]]]))
    torch.testing.assert_close(patch_affinity(attns, C, layers=[0, 2]),
                               torch.tensor([[[1.0, 0.0], [1.0, 1.0]]]))


def test_fuse_and_refine_hand_computed():
    mct = torch.tensor([[[[2.0, 2.0]], [[1.0, 0.5]]]])
    cam = torch.tensor([[[[1.0, -3.0]], [[2.0, 4.0]]]])
    fused = fuse_maps(mct, cam)
    torch.testing.assert_close(fused, torch.tensor([[[[2.0, 0.0]], [[2.0, 2.0]]]]))
    # affinity A = [[0, 1], [2, 1]]: refined_i = sum_j A_ij fused_j
    aff = torch.tensor([[[0.0, 1.0], [2.0, 1.0]]])
    refined = refine_with_affinity(fused, aff)
    torch.testing.assert_close(refined, torch.tensor([[[[0.0, 4.0]], [[2.0, 6.0]]]]))


def test_localization_map_types():
    attns = _hand_attns()
    cams = torch.tensor([[[[1.0, -3.0]], [[2.0, 4.0]]]])
    out = _feats(torch.zeros(1, 8, H, W), BlockAttention.explicit(attns, C))
    aff = torch.tensor([[[1.0, 1.0], [1.0, 1.0]]])  # all layers
    mct = torch.tensor([[[[2.0, 2.0]], [[1.0, 0.5]]]])  # top_k = 2
    relu_cam = torch.tensor([[[[1.0, 0.0]], [[2.0, 4.0]]]])
    fused = mct * relu_cam

    def maps(t):
        return localization_maps(out, cams, C, t, top_k=2)

    torch.testing.assert_close(maps('mct'), mct)
    torch.testing.assert_close(maps('patchcam'), relu_cam)
    torch.testing.assert_close(maps('fused'), fused)
    # with the all-ones affinity, every position receives the sum of the map
    for name, base in (('mct', mct), ('patchcam', relu_cam), ('fused', fused)):
        expected = base.sum(-1, keepdim=True).expand_as(base)
        torch.testing.assert_close(maps(f'{name}_affinity'), expected)
        torch.testing.assert_close(maps(f'{name}_affinity'), refine_with_affinity(base, aff))
    # 'mct' needs no CAMs, 'patchcam' needs no attention
    torch.testing.assert_close(localization_maps(out, None, C, 'mct', 2), mct)
    torch.testing.assert_close(
        localization_maps(_feats(out.patch_tokens), cams, C, 'patchcam'), relu_cam)


def test_minmax_normalise():
    maps = torch.tensor([[[[1.0, 3.0], [2.0, 5.0]], [[0.0, 0.0], [0.0, 0.0]]]])
    out = minmax_normalise(maps, eps=0.0 + 1e-12)
    torch.testing.assert_close(out[0, 0], torch.tensor([[0.0, 0.5], [0.25, 1.0]]))
    torch.testing.assert_close(out[0, 1], torch.zeros(2, 2))
    assert minmax_normalise(maps.half()).dtype == torch.float32


def test_half_precision_attention_is_upcast():
    attns = [a.half() for a in _hand_attns()]
    assert class_to_patch_attention(attns, C, (H, W), 2).dtype == torch.float32
    assert patch_affinity(attns, C).dtype == torch.float32


def test_select_layers():
    assert select_layers(4, 'all') == (0, 1, 2, 3)
    assert select_layers(4, 'none') == ()
    assert select_layers(4, 2) == (2, 3)
    assert select_layers(4, [-1, 0, 0]) == (0, 3)


def test_localization_errors():
    attns = [_attn(0)]
    with pytest.raises(ValueError, match='N=4 tokens.*C=2, h\\*w=3'):
        class_to_patch_attention(attns, C, (1, 3))
    with pytest.raises(ValueError, match=r'top_k.*\[1, 1\], got 3'):
        class_to_patch_attention(attns, C, (H, W), top_k=3)
    explicit = _feats(torch.zeros(1, 4, H, W), BlockAttention.explicit(attns, C))
    with pytest.raises(ValueError, match='unknown map_type'):
        localization_maps(explicit, None, C, 'cam')
    with pytest.raises(ValueError, match='needs PatchCAM'):
        localization_maps(explicit, None, C, 'fused')
    with pytest.raises(ValueError, match="attn_path='sdpa' or 'explicit'"):
        localization_maps(_feats(torch.zeros(1, 4, H, W)), None, C, 'mct')
    with pytest.raises(ValueError, match='same shape'):
        fuse_maps(torch.zeros(1, 2, 1, 2), torch.zeros(1, 2, 2, 1))
    with pytest.raises(ValueError, match=r'expected \(B, M, M\) = \(1, 2, 2\)'):
        refine_with_affinity(torch.zeros(1, 2, 1, 2), torch.zeros(1, 3, 3))
    with pytest.raises(ValueError, match='out of range'):
        select_layers(2, [2])
    with pytest.raises(ValueError, match="'all', 'none'"):
        select_layers(2, 'last')


def test_fusion_and_layer_reduction_options():
    """MCTformer+ code: sqrt(attention * ReLU(cam)), attention averaged over the layers."""
    attns = [_attn(i) for i in range(3)]
    summed = class_to_patch_attention(attns, C, (H, W), top_k=2)
    mean = class_to_patch_attention(attns, C, (H, W), top_k=2, reduce='mean')
    torch.testing.assert_close(mean, summed / 2)
    cam = torch.tensor([[[[0.25, -1.0]], [[4.0, 0.0]]]])
    mct = torch.tensor([[[[4.0, 2.0]], [[1.0, 3.0]]]])
    torch.testing.assert_close(fuse_maps(mct, cam, 'sqrt'),
                               torch.tensor([[[[1., 0.]], [[2., 0.]]]]))
    torch.testing.assert_close(fuse_maps(mct, cam), torch.tensor([[[[1., 0.]], [[4., 0.]]]]))
    out = _feats(torch.zeros(1, 4, H, W), BlockAttention.explicit(attns, C))
    fused = localization_maps(out, cam, C, 'fused', top_k=2, fusion='sqrt', attn_reduce='mean')
    torch.testing.assert_close(fused, fuse_maps(mean, cam, 'sqrt'))
    with pytest.raises(ValueError, match="unknown mode 'geo'"):
        fuse_maps(mct, cam, 'geo')
    with pytest.raises(ValueError, match="unknown reduce 'max'"):
        class_to_patch_attention(attns, C, (H, W), reduce='max')


def test_minmax_eps_option():
    maps = torch.tensor([[[0.0, 1e-7]]])
    torch.testing.assert_close(minmax_normalise(maps, 1e-8), torch.tensor([[[0.0, 1e-7 / 1.1e-7]]]))
    assert float(minmax_normalise(maps)[0, 0, 1]) < 0.02  # default eps 1e-5 flattens tiny ranges
def _qk(num_layers, b, heads, n, dim, seed=0):
    g = torch.Generator().manual_seed(seed)
    qs = [torch.randn(b, heads, n, dim, generator=g) * 2 for _ in range(num_layers)]
    ks = [torch.randn(b, heads, n, dim, generator=g) for _ in range(num_layers)]
    return qs, ks


def _explicit(qs, ks):
    return [((q * q.shape[-1]**-0.5) @ k.transpose(-2, -1)).softmax(-1).mean(1)
            for q, k in zip(qs, ks)]


@pytest.mark.parametrize('num_maps', [3, 10])  # 10 maps > head dim 4: two value chunks
@pytest.mark.parametrize('layers', ['all', 2, [0, 2]])
def test_attention_affinity_matches_explicit(num_maps, layers):
    b, heads, dim, c, h, w = 2, 3, 4, 5, 3, 4
    qs, ks = _qk(3, b, heads, c + h * w, dim)
    maps = torch.rand(b, num_maps, h, w, generator=torch.Generator().manual_seed(1))
    expected = refine_with_affinity(maps, patch_affinity(_explicit(qs, ks), c, layers))
    out = refine_with_attention_affinity(maps, qs, ks, c, layers)
    assert out.dtype == torch.float32 and out.shape == maps.shape
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


def test_attention_affinity_builds_no_n_by_n_matrix():
    """No allocation as large as one N x N float32 matrix (the explicit path needs L of them)."""
    from torch.profiler import ProfilerActivity, profile
    b, heads, dim, c, h, w = 1, 2, 16, 4, 32, 48  # N = 1540
    n = c + h * w
    qs, ks = _qk(2, b, heads, n, dim)
    maps = torch.rand(b, c, h, w)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        refine_with_attention_affinity(maps, qs, ks, c)
    largest = max(e.cpu_memory_usage for e in prof.key_averages())
    assert 0 < largest < n * n * 4


def test_localization_maps_fast_path_dispatch():
    """The sdpa record (class rows, q, k) in place of the explicit weights: the same maps for
    every map type."""
    b, heads, dim, c, h, w = 1, 2, 4, C, 2, 3
    qs, ks = _qk(3, b, heads, c + h * w, dim, seed=3)
    attns = _explicit(qs, ks)
    explicit = _feats(torch.zeros(b, 8, h, w), BlockAttention.explicit(attns, c))
    fast = _feats(torch.zeros(b, 8, h, w),
                  BlockAttention.sdpa([a[:, :c] for a in attns], qs, ks))
    cams = torch.randn(b, c, h, w, generator=torch.Generator().manual_seed(4))
    for map_type in ('mct', 'mct_affinity', 'fused', 'fused_affinity', 'patchcam_affinity'):
        torch.testing.assert_close(
            localization_maps(fast, cams, c, map_type, top_k=2, affinity_layers=2),
            localization_maps(explicit, cams, c, map_type, top_k=2, affinity_layers=2),
            rtol=1e-5, atol=1e-6)


def test_attention_affinity_errors():
    qs, ks = _qk(2, 1, 2, C + 6, 4)
    maps = torch.zeros(1, C, 2, 3)
    with pytest.raises(ValueError, match=r'\(B=1, H, 2 \+ 3\*3, E\)'):
        refine_with_attention_affinity(torch.zeros(1, C, 3, 2 + 1), qs, ks, C)
    with pytest.raises(ValueError, match='as many queries as keys'):
        refine_with_attention_affinity(maps, qs, ks[:1], C)
    with pytest.raises(ValueError, match='selects no layer'):
        refine_with_attention_affinity(maps, qs, ks, C, 'none')
