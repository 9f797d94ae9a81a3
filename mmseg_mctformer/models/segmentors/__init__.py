from .affinity_net import AffinityNet
from .mctformer import MCTformer
from .prob_seg_tta import ProbSegTTAModel

__all__ = ['AffinityNet', 'MCTformer', 'ProbSegTTAModel']
