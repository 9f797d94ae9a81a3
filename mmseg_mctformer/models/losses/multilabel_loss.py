"""Multilabel soft-margin loss for image-level class scores (MCTformer's classification loss)."""
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class MultiLabelSoftMarginLoss(nn.Module):
    """Multilabel soft-margin loss ``-mean_c [y_c log s(x_c) + (1 - y_c) log s(-x_c)]``.

    The loss of MCTformer / MCTformer+ on both the class-token scores and the PatchCAM scores
    ("Multi-class Token Transformer for Weakly Supervised Semantic Segmentation", CVPR 2022). Thin
    wrapper of :func:`torch.nn.functional.multilabel_soft_margin_loss` (computed in float32, mean
    over classes then batch) with mmseg's ``loss_weight`` / ``loss_name``.

    Args:
        loss_weight (float): Weight of the loss. Default: 1.0.
        loss_name (str): Key of the loss in the loss dict; must start with ``loss_`` to be
            back-propagated by mmseg. Default: 'loss_cls'.
    """

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss_cls'):
        super().__init__()
        if not loss_name.startswith('loss_'):
            raise ValueError(f"MultiLabelSoftMarginLoss: loss_name must start with 'loss_', "
                             f'got {loss_name!r}')
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, scores: Tensor, labels: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            scores (Tensor): Class logits (B, C).
            labels (Tensor): Multi-hot labels (B, C), any numeric dtype.

        Returns:
            Tensor: Scalar loss (float32), times ``loss_weight``.
        """
        if scores.shape != labels.shape:
            raise ValueError(f'MultiLabelSoftMarginLoss: scores {tuple(scores.shape)} and labels '
                             f'{tuple(labels.shape)} must both be (B, C)')
        loss = F.multilabel_soft_margin_loss(scores.float(), labels.float())
        return self.loss_weight * loss

    @property
    def loss_name(self) -> str:
        """str: The key of this loss in the loss dict."""
        return self._loss_name
