import pytest
import torch

from mmseg_mctformer.models.utils import global_pool, gwrp_pool


def test_gwrp_decay_one_is_gap():
    x = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(gwrp_pool(x, decay=1.0), x.mean(dim=(2, 3)))
    torch.testing.assert_close(global_pool(x, 'gap'), x.mean(dim=(2, 3)))


def test_gwrp_small_decay_approaches_gmp():
    x = torch.randn(2, 3, 4, 5)
    gmp = x.flatten(2).amax(-1)
    torch.testing.assert_close(gwrp_pool(x, decay=1e-6), gmp, atol=1e-4, rtol=0)
    torch.testing.assert_close(global_pool(x, 'gmp'), gmp)


def test_gwrp_hand_computed():
    # values sorted: 4, 3, 2, 1 ; decay 0.5 -> weights 1, .5, .25, .125 (sum 1.875)
    x = torch.tensor([[[[1.0, 4.0], [2.0, 3.0]]]])
    expected = (4 + 3 * 0.5 + 2 * 0.25 + 1 * 0.125) / 1.875
    out = gwrp_pool(x, decay=0.5)
    assert out.shape == (1, 1)
    assert out.item() == pytest.approx(expected)
    # default decay 0.996: between mean and max, slightly above the mean
    d = 0.996
    w = torch.tensor([1, d, d**2, d**3])
    assert global_pool(x).item() == pytest.approx(
        float((torch.tensor([4.0, 3, 2, 1]) * w).sum() / w.sum()))


def _cpu_supports(dtype):
    try:
        torch.ones(2, 2, dtype=dtype) @ torch.ones(2, 2, dtype=dtype)
        return True
    except RuntimeError:  # float16 products on a CPU need PyTorch >= 2.2
        return False


def test_gwrp_gradient():
    x = torch.randn(1, 2, 3, 3, requires_grad=True)
    gwrp_pool(x, 0.9).sum().backward()
    assert x.grad is not None and torch.all(x.grad > 0)


@pytest.mark.parametrize('dtype', [
    torch.bfloat16,
    pytest.param(torch.float16, marks=pytest.mark.skipif(
        not _cpu_supports(torch.float16),
        reason=f'no float16 matrix product on a CPU in PyTorch {torch.__version__}'))])
def test_gwrp_keeps_the_dtype(dtype):
    assert gwrp_pool(torch.randn(1, 2, 3, 3).to(dtype), 0.9).dtype == dtype


def test_pool_errors():
    x = torch.randn(1, 2, 3, 3)
    with pytest.raises(ValueError, match='unknown mode'):
        global_pool(x, 'avg')
    with pytest.raises(ValueError, match='decay'):
        gwrp_pool(x, 0.0)
    with pytest.raises(ValueError, match=r'\(B, C, h, w\)'):
        gwrp_pool(torch.randn(2, 3))
