"""Pairwise affinity loss of AffinityNet (PSA).

"Learning Pixel-level Semantic Affinity with Image-level Supervision for Weakly Supervised Semantic
Segmentation" (Ahn & Kwak, CVPR 2018, https://arxiv.org/abs/1803.10464), Eq. 5-7: with the pairs
within a radius split into background-background positives P+bg, same-class foreground positives
P+fg and negatives P- (pairs with an unconfident end are ignored),

    L = L+bg / 2 + L+fg / 2 + L-,
    L+bg = -mean_{P+bg} log a_ij,  L+fg = -mean_{P+fg} log a_ij,  L- = -mean_{P-} log(1 - a_ij).
"""
from typing import Dict

import torch
from mmseg.registry import MODELS
from torch import Tensor, nn


def affinity_loss_terms(aff: Tensor, pos_bg: Tensor, pos_fg: Tensor, neg: Tensor,
                        eps: float = 1e-5) -> Dict[str, Tensor]:
    """The three terms of the PSA loss.

    Args:
        aff (Tensor): Affinities (B, P, h, w) in (0, 1].
        pos_bg (Tensor): Bool (B, P, h, w), background-background pairs.
        pos_fg (Tensor): Bool (B, P, h, w), same-class foreground pairs.
        neg (Tensor): Bool (B, P, h, w), pairs of different labels.
        eps (float): Added inside the logarithms. Default: 1e-5.

    Returns:
        dict[str, Tensor]: Scalars ``bg``, ``fg`` and ``neg``; a term without pairs is 0 (and
        keeps the graph).
    """
    for name, mask in (('pos_bg', pos_bg), ('pos_fg', pos_fg), ('neg', neg)):
        if mask.shape != aff.shape:
            raise ValueError(f'affinity_loss_terms: {name} has shape {tuple(mask.shape)}, '
                             f'expected the affinity shape {tuple(aff.shape)}')

    def masked_mean(values, mask):
        mask = mask.to(values.dtype)
        return (values * mask).sum() / mask.sum().clamp(min=1)

    log_pos = -torch.log(aff + eps)
    log_neg = -torch.log(1 + eps - aff)
    return dict(bg=masked_mean(log_pos, pos_bg), fg=masked_mean(log_pos, pos_fg),
                neg=masked_mean(log_neg, neg))


@MODELS.register_module()
class AffinityLoss(nn.Module):
    """PSA's pairwise affinity loss (see the module docstring).

    Args:
        bg_weight (float): Weight of the background-positive term. Default: 0.5.
        fg_weight (float): Weight of the foreground-positive term. Default: 0.5.
        neg_weight (float): Weight of the negative term. Default: 1.0.
        loss_weight (float): Weight of the whole loss. Default: 1.0.
        loss_name (str): Name of the loss in the log; starts with ``loss_``. Default: 'loss_aff'.
    """

    def __init__(self, bg_weight: float = 0.5, fg_weight: float = 0.5, neg_weight: float = 1.0,
                 loss_weight: float = 1.0, loss_name: str = 'loss_aff') -> None:
        super().__init__()
        if not loss_name.startswith('loss_'):
            raise ValueError(f'AffinityLoss: loss_name must start with "loss_" (mmseg only '
                             f'back-propagates such keys), got {loss_name!r}')
        self.weights = dict(bg=bg_weight, fg=fg_weight, neg=neg_weight)
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, aff: Tensor, pos_bg: Tensor, pos_fg: Tensor, neg: Tensor) -> Tensor:
        """Weighted sum of :func:`affinity_loss_terms` (shapes as there); a scalar."""
        terms = affinity_loss_terms(aff, pos_bg, pos_fg, neg)
        return self.loss_weight * sum(self.weights[k] * v for k, v in terms.items())

    @property
    def loss_name(self) -> str:
        return self._loss_name
