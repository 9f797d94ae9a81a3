from .affinity_net import AffinityNet
from .mctformer import MCTformer

__all__ = ['AffinityNet', 'MCTformer']
