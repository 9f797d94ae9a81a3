from .epoch_warmup_cosine_lr import EpochWarmupCosineLR

__all__ = ['EpochWarmupCosineLR']
