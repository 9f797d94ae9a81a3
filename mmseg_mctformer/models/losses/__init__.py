from .cct_loss import ContrastiveClassTokenLoss, cct_loss
from .multilabel_loss import MultiLabelSoftMarginLoss

__all__ = ['ContrastiveClassTokenLoss', 'MultiLabelSoftMarginLoss', 'cct_loss']
