"""FusedFallbackOptimWrapperConstructor keeps `fused=True` where PyTorch runs it and drops it (with
a log line) where not, keeping the paramwise settings."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from torch import nn

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.engine.optimizers import fused_fallback_constructor as module
from mmseg_mctformer.utils.compat import fused_optimizer_supported


def _build(model):
    cfg = dict(type='OptimWrapper', constructor='FusedFallbackOptimWrapperConstructor',
               optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, fused=True),
               paramwise_cfg=dict(bias_decay_mult=0.0))
    with DefaultScope.overwrite_default_scope('mmseg'):
        return build_optim_wrapper(model, cfg)


def _decay(optimizer, param):
    return next(g['weight_decay'] for g in optimizer.param_groups
                if any(p is param for p in g['params']))


def test_cpu_model_gets_fused_adamw_where_torch_has_it():
    model = nn.Linear(3, 2)
    opt = _build(model).optimizer
    assert isinstance(opt, torch.optim.AdamW)
    assert bool(opt.defaults.get('fused')) is fused_optimizer_supported(torch.optim.AdamW, 'cpu')
    assert _decay(opt, model.bias) == 0.0 and _decay(opt, model.weight) == pytest.approx(0.05)


def test_refused_device_builds_without_fused_and_logs(monkeypatch):
    logged = []
    monkeypatch.setattr(module, 'fused_optimizer_supported', lambda cls, device: False)
    monkeypatch.setattr(module, 'print_log', lambda msg, **kwargs: logged.append(msg))
    model = nn.Linear(3, 2)
    opt = _build(model).optimizer
    assert not opt.defaults.get('fused') and _decay(opt, model.bias) == 0.0
    assert len(logged) == 1 and "AdamW(fused=True) is not supported on ['cpu']" in logged[0]
    x = torch.ones(4, 3)
    before = model.weight.detach().clone()
    model(x).sum().backward()
    opt.step()
    assert not torch.equal(before, model.weight)


def test_without_fused_nothing_changes(monkeypatch):
    monkeypatch.setattr(module, 'fused_optimizer_supported', lambda cls, device: 1 / 0)
    cfg = dict(type='OptimWrapper', constructor='FusedFallbackOptimWrapperConstructor',
               optimizer=dict(type='SGD', lr=0.1))
    with DefaultScope.overwrite_default_scope('mmseg'):
        wrapper = build_optim_wrapper(nn.Linear(3, 2), cfg)
    assert isinstance(wrapper.optimizer, torch.optim.SGD)
