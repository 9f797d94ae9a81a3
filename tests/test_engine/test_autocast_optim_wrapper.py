import pytest
import torch
from mmengine.registry import DefaultScope
from mmseg.registry import OPTIM_WRAPPERS
from torch import nn

import mmseg_mctformer  # noqa: F401


def build(model, **kwargs):
    cfg = dict(type='AutocastOptimWrapper', optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    cfg.update(kwargs)
    with DefaultScope.overwrite_default_scope('mmseg'):
        return OPTIM_WRAPPERS.build(cfg)


def test_forward_runs_in_bfloat16_and_the_weights_stay_float32():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    wrapper = build(model)
    x = torch.randn(4, 8)
    before = [p.detach().clone() for p in model.parameters()]
    with wrapper.optim_context(model):
        out = model(x)
        loss = out.float().pow(2).mean()
    assert out.dtype == torch.bfloat16
    wrapper.update_params(loss)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in model.parameters())
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    # outside the context the model runs in float32 again
    assert model(x).dtype == torch.float32
    # the step is close to the float32 one (bf16 has 8 bits of mantissa)
    ref = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    for r, b in zip(ref.parameters(), before):
        r.data.copy_(b)
    ref_loss = ref(x).pow(2).mean()
    torch.testing.assert_close(loss.detach(), ref_loss.detach(), atol=2e-2, rtol=2e-2)


def test_state_dict_round_trip_for_resume():
    model = nn.Linear(4, 2)
    wrapper = build(model)
    with wrapper.optim_context(model):
        loss = model(torch.randn(3, 4)).float().sum()
    wrapper.update_params(loss)
    other = build(nn.Linear(4, 2))
    other.load_state_dict(wrapper.state_dict())
    assert other.state_dict()['param_groups'][0]['lr'] == 0.1


def test_rejects_float16():
    with pytest.raises(ValueError, match='AmpOptimWrapper'):
        build(nn.Linear(2, 2), dtype='float16')
    with pytest.raises(ValueError, match='bfloat16'):
        build(nn.Linear(2, 2), dtype=torch.float16)
