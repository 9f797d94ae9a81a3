"""Optimizer constructor: ``fused=True`` where PyTorch has the kernel for the device, else not."""
import logging

import torch
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import OPTIMIZERS
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

from ...utils.compat import fused_optimizer_supported


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class FusedFallbackOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's ``DefaultOptimWrapperConstructor`` (same arguments, ``paramwise_cfg``
    included) for an ``optimizer`` with ``fused=True``, which builds the optimizer without it where
    the installed PyTorch has no fused kernel for the model's device.

    Fused AdamW (one call a parameter group) runs on CUDA since PyTorch 2.0 and on a CPU since
    2.4; older versions refuse ``fused=True`` for CPU parameters, so a CPU training with the
    configs' AdamW could not start there. Without ``fused`` PyTorch picks its own implementation
    (for-each on CUDA, the per-tensor loop on a CPU): the same update to float rounding
    (``tests/test_configs_optimizer.py``). The choice is logged once per build.

    Use::

        optim_wrapper = dict(type='OptimWrapper',
                             constructor='FusedFallbackOptimWrapperConstructor',
                             optimizer=dict(type='AdamW', lr=1e-3, fused=True))
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if self.optimizer_cfg.get('fused'):
            module = getattr(model, 'module', model)
            optimizer_cls = self.optimizer_cfg['type']
            if isinstance(optimizer_cls, str):
                with OPTIMIZERS.switch_scope_and_registry(None) as registry:
                    optimizer_cls = registry.get(optimizer_cls)
            devices = sorted({p.device.type for p in module.parameters() if p.requires_grad})
            refused = [d for d in devices if not fused_optimizer_supported(optimizer_cls, d)]
            if refused:
                self.optimizer_cfg = self.optimizer_cfg.copy()
                self.optimizer_cfg.pop('fused')
                print_log(f'{optimizer_cls.__name__}(fused=True) is not supported on {refused} '
                          f'by PyTorch {torch.__version__}: built without `fused` (PyTorch\'s '
                          'default implementation, the same update)', logger='current',
                          level=logging.WARNING)
        return super().__call__(model)
