"""An ``OptimWrapper`` whose forward runs under ``torch.autocast``: mixed precision on the CPU."""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from mmseg.registry import OPTIM_WRAPPERS
from torch import nn


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """mmengine's ``OptimWrapper`` with the model's forward (and loss) under ``torch.autocast``.

    mmengine's ``AmpOptimWrapper`` refuses to start without CUDA / NPU / MLU / MUSA; this wrapper
    is its counterpart for a CPU (or any device), in bfloat16, without a loss scaler: bfloat16 has
    float32's exponent range, so the gradients do not underflow. The parameters, the gradients and
    the optimizer state stay float32; autocast runs matrix products and convolutions in bfloat16,
    the ops of PyTorch's float32 autocast list (most losses) in float32 and the others in the dtype
    of their inputs. On a CPU with native bfloat16 (AVX512-BF16 or AMX) the demo's training steps
    run faster than in float32 (``benchmarks/bench_demo_stages.py --bf16``, numbers in
    ``docs/en/benchmarks.md``); without it the products are emulated and can be slower than
    float32. Layers whose result bfloat16 cannot represent keep float32 themselves (the
    AffinityNet computes its affinities in float32: an affinity within 2^-8 of 1 rounds to 1).

    The authors train MCTformer with mixed precision too (``torch.cuda.amp`` with float16 and a
    loss scaler, on a GPU); on CUDA use mmengine's ``AmpOptimWrapper`` (what ``--amp`` picks
    there).

    Args:
        dtype (str | torch.dtype): ``'bfloat16'`` (``'float16'`` on CUDA needs a loss scaler:
            use ``AmpOptimWrapper``). Default: ``'bfloat16'``.
        device_type (str, optional): ``torch.autocast``'s device type; by default that of the
            model's first parameter. Default: None.
        **kwargs: ``OptimWrapper``'s arguments (``optimizer``, ``accumulative_counts``,
            ``clip_grad``).

    Example::

        optim_wrapper = dict(type='AutocastOptimWrapper', dtype='bfloat16',
                             optimizer=dict(type='AdamW', lr=1e-4))
    """

    def __init__(self, dtype='bfloat16', device_type=None, **kwargs):
        super().__init__(**kwargs)
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError(f'AutocastOptimWrapper: dtype must be "bfloat16", got {dtype!r} '
                             '(float16 needs a loss scaler: use AmpOptimWrapper)')
        self.cast_dtype = torch.bfloat16
        self.device_type = device_type

    @contextmanager
    def optim_context(self, model: nn.Module):
        """``OptimWrapper.optim_context`` (gradient accumulation) inside ``torch.autocast``."""
        device_type = self.device_type
        if device_type is None:
            param = next(model.parameters(), None)
            device_type = param.device.type if param is not None else 'cpu'
        with super().optim_context(model), torch.autocast(device_type=device_type,
                                                           dtype=self.cast_dtype):
            yield
