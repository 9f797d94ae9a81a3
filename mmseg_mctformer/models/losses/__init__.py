from .affinity_loss import AffinityLoss, affinity_loss_terms
from .cct_loss import ContrastiveClassTokenLoss, cct_loss
from .multilabel_loss import MultiLabelSoftMarginLoss

__all__ = [
    'AffinityLoss', 'ContrastiveClassTokenLoss', 'MultiLabelSoftMarginLoss', 'affinity_loss_terms',
    'cct_loss'
]
