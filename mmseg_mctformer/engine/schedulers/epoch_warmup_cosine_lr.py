"""Linear warm-up inside a cosine, one rate an epoch: timm's ``CosineLRScheduler`` as DeiT-style
training scripts step it (``lr_scheduler.step(epoch)`` after each epoch)."""
import math

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import _ParamScheduler
from mmseg.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class EpochWarmupCosineLR(LRSchedulerMixin, _ParamScheduler):
    """One learning rate an epoch: timm 0.4.12's ``CosineLRScheduler`` (``t_in_epochs=True``,
    ``warmup_prefix=False``, one cycle, no noise) stepped after every epoch, as the MCTformer
    code's ``main.py`` (``lr_scheduler.step(epoch)`` after ``train_one_epoch``).

    timm's rate at step ``t`` for a group of base rate ``lr``:
    ``warmup_lr + t * (lr - warmup_lr) / warmup_epochs`` for ``t < warmup_epochs``, else
    ``eta_min + (lr - eta_min) * (1 + cos(pi * t / T)) / 2`` (the cosine spans all ``T``
    epochs, the warm-up replaces its start); ``eta_min`` after ``T``. timm sets ``warmup_lr`` when
    it is built and the training script steps it after each epoch, so epoch 0 runs at
    ``warmup_lr`` and epoch ``k >= 1`` at timm's rate of step ``k - 1``: epochs 0 and 1 both at
    ``warmup_lr``, the peak (below ``lr``) in epoch ``warmup_epochs + 1``. The rate of epoch ``k``
    is a function of ``k`` alone, so a resumed run continues the same rates.
    ``tests/test_engine/test_epoch_warmup_cosine_lr.py`` checks all 45 (60) rates of the MCTformer+
    (V2) recipe against timm 0.4.12's.

    Args:
        optimizer (Optimizer): Wrapped optimizer; each group's ``initial_lr`` (its ``lr`` when the
            scheduler is built) is timm's base rate.
        T (int): Length of the cosine in epochs (timm's ``t_initial``; the code: ``--epochs``).
        warmup_epochs (int): Warm-up steps (``--warmup-epochs``). Default: 5.
        warmup_lr (float): Warm-up start (``--warmup-lr``). Default: 1e-6.
        eta_min (float): Floor of the cosine (``--min-lr``). Default: 1e-5.
        begin (int): First epoch. Default: 0.
        end (int): Epoch after the last. Default: ``begin + T``.
        last_step (int): For resuming. Default: -1.
        by_epoch (bool): Must be True: one rate an epoch. Default: True.
        verbose (bool): Print every update. Default: False.
    """

    def __init__(self, optimizer, T: int, warmup_epochs: int = 5, warmup_lr: float = 1e-6,
                 eta_min: float = 1e-5, begin: int = 0, end=None, last_step: int = -1,
                 by_epoch: bool = True, verbose: bool = False):
        if not by_epoch:
            raise ValueError('EpochWarmupCosineLR: by_epoch=False given; the rate changes once '
                             'an epoch, expected by_epoch=True')
        if T < 1 or warmup_epochs < 0:
            raise ValueError(f'EpochWarmupCosineLR: T={T}, warmup_epochs={warmup_epochs}; '
                             'expected T >= 1 and warmup_epochs >= 0')
        self.T = int(T)
        self.warmup_epochs = int(warmup_epochs)
        self.warmup_lr = float(warmup_lr)
        self.eta_min = float(eta_min)
        super().__init__(optimizer, begin=begin, end=begin + self.T if end is None else end,
                         last_step=last_step, by_epoch=True, verbose=verbose)

    def timm_rate(self, base_lr: float, t: int) -> float:
        """timm's ``CosineLRScheduler._get_lr(t)`` for one group of base rate ``base_lr``."""
        if t < self.warmup_epochs:
            return self.warmup_lr + t * (base_lr - self.warmup_lr) / self.warmup_epochs
        if t >= self.T:
            return self.eta_min
        return self.eta_min + 0.5 * (base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T))

    def _get_value(self):
        epoch = self.last_step  # the epoch about to run
        if epoch == 0:
            return [self.warmup_lr if self.warmup_epochs else base for base in self.base_values]
        return [self.timm_rate(base, epoch - 1) for base in self.base_values]
