from .autocast_optim_wrapper import AutocastOptimWrapper
from .fused_fallback_constructor import FusedFallbackOptimWrapperConstructor

__all__ = ['AutocastOptimWrapper', 'FusedFallbackOptimWrapperConstructor']
