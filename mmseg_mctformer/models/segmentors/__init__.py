from .mctformer import MCTformer

__all__ = ['MCTformer']
