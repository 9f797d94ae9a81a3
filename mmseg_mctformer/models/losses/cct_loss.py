"""Contrastive class-token (CCT) loss of MCTformer+.

Xu et al., "MCTformer+: Multi-Class Token Transformer for Weakly Supervised Semantic
Segmentation" (TPAMI).
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ..utils.localization import select_layers


def cct_loss(cls_tokens: Sequence[Tensor],
             layers: Union[str, int, Sequence[int]] = 'all',
             normalize: bool = False,
             labels: Optional[Tensor] = None,
             eps: float = 1e-8) -> Tensor:
    """Contrastive class-token loss averaged over the chosen layers.

    For the class tokens ``T`` (B, C, D) of a layer, ``S = T T^T`` (B, C, C) (with ``normalize``,
    ``T`` is L2-normalised first: cosine similarities) and ``CE[b, c]`` is the cross-entropy of row
    ``S[b, c]`` against target class ``c``. Without ``labels`` the loss of a layer is the mean of
    ``CE`` over B and C (the paper's wording); with ``labels`` (B, C) it is, per image, the
    label-weighted sum ``sum_c y[b, c] CE[b, c] / (sum_c y[b, c] + eps)`` (only the classes present
    in the image count), then the mean over B (the authors' MCTformer+ code). The layer losses are
    averaged.

    Args:
        cls_tokens (Sequence[Tensor]): L tensors (B, C, D), the class tokens after every block.
        layers (str | int | Sequence[int]): ``'all'``, ``'none'``, an int T (last T layers) or a
            list of layer indices. Default: 'all'.
        normalize (bool): L2-normalise the tokens (cosine similarity). Default: False.
        labels (Tensor, optional): Multi-hot image labels (B, C) weighting the rows.
            Default: None (plain mean).
        eps (float): Added to the label count of an image. Default: 1e-8.

    Returns:
        Tensor: Scalar float32 loss (0 connected to the graph when no layer is selected).
    """
    if len(cls_tokens) == 0:
        raise ValueError('cct_loss: got an empty list of class tokens')
    indices = select_layers(len(cls_tokens), layers, 'ContrastiveClassTokenLoss: layers')
    if not indices:
        return cls_tokens[-1].float().sum() * 0.0
    for i in indices:
        if cls_tokens[i].dim() != 3:
            raise ValueError(f'cct_loss: class tokens of layer {i} have shape '
                             f'{tuple(cls_tokens[i].shape)}, expected (B, C, D)')
    # all chosen layers at once: a handful of kernels instead of a dozen per layer
    tokens = torch.stack([cls_tokens[i] for i in indices]).float()  # (L, B, C, D)
    num_layers, batch, num_classes, _ = tokens.shape
    if normalize:
        tokens = F.normalize(tokens, dim=-1)
    sim = tokens @ tokens.transpose(-1, -2)  # (L, B, C, C)
    target = torch.arange(num_classes, device=tokens.device).repeat(num_layers * batch)
    ce = F.cross_entropy(sim.reshape(-1, num_classes), target,
                         reduction='none').reshape(num_layers, batch, num_classes)
    if labels is None:
        return ce.mean(dim=(1, 2)).mean()
    if tuple(labels.shape) != (batch, num_classes):
        raise ValueError(f'cct_loss: labels have shape {tuple(labels.shape)}, expected '
                         f'(B, C) = ({batch}, {num_classes})')
    y = labels.to(ce.dtype)
    return ((ce * y).sum(-1) / (y.sum(-1) + eps)).mean(-1).mean()  # per layer, then layers


@MODELS.register_module()
class ContrastiveClassTokenLoss(nn.Module):
    """Contrastive class-token (CCT) loss of MCTformer+.

    "MCTformer+: Multi-Class Token Transformer for Weakly Supervised Semantic Segmentation"
    (Xu et al., TPAMI). Pushes the C class tokens of every chosen layer apart: per layer,
    ``S = T T^T`` (B, C, C) and each row is classified to its own index with a cross-entropy
    (:func:`cct_loss`); the loss is the mean over the chosen layers.

    Two formulations:

    - the paper's wording (defaults): raw dot products, all C rows averaged;
    - the authors' MCTformer+ code (``normalize=True, label_weighted=True, layers=12``): the tokens
      are L2-normalised (cosine similarities in [-1, 1], so the loss stays near log C and keeps a
      gradient), and each image averages only the rows of the classes present in its label.

    Numerics: the similarities are computed in float32 even when the tokens are float16 (AMP): in
    float16 a token of norm > 256 already overflows ``T T^T`` to inf. Without normalisation, very
    large norms only make the loss saturate.

    Args:
        layers (str | int | list[int]): Layers the loss is applied to: ``'all'`` (paper default,
            best in its Fig. 11), an int T (the last T layers; the authors' ``--num-cct``), a list
            of layer indices, or ``'none'`` (loss 0). Default: 'all'.
        normalize (bool): Cosine similarities (authors' code) instead of dot products.
            Default: False.
        label_weighted (bool): Average each image's rows over its present classes only (authors'
            code); the model passes the labels. Default: False.
        loss_weight (float): Weight gamma of the loss. Default: 1.0.
        loss_name (str): Key in the loss dict, must start with ``loss_``. Default: 'loss_cct'.
    """

    def __init__(self, layers: Union[str, int, Sequence[int]] = 'all',
                 normalize: bool = False, label_weighted: bool = False,
                 loss_weight: float = 1.0, loss_name: str = 'loss_cct'):
        super().__init__()
        if not loss_name.startswith('loss_'):
            raise ValueError(f"ContrastiveClassTokenLoss: loss_name must start with 'loss_', "
                             f'got {loss_name!r}')
        # validate the spec early (against a large layer count; checked again at run time)
        if isinstance(layers, str) and layers not in ('all', 'none'):
            raise ValueError(f"ContrastiveClassTokenLoss: layers must be 'all', 'none', an int "
                             f'or a list of ints, got {layers!r}')
        self.layers = layers if isinstance(layers, (str, int)) else [int(i) for i in layers]
        self.normalize = bool(normalize)
        self.label_weighted = bool(label_weighted)
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, cls_tokens: Sequence[Tensor], labels: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            cls_tokens (Sequence[Tensor]): L tensors (B, C, D), class tokens after every block.
            labels (Tensor, optional): Multi-hot labels (B, C); required (and only used) with
                ``label_weighted``. Default: None.

        Returns:
            Tensor: Scalar float32 loss times ``loss_weight``.
        """
        if self.label_weighted and labels is None:
            raise ValueError('ContrastiveClassTokenLoss: label_weighted=True needs the image '
                             'labels (B, C), got labels=None')
        return self.loss_weight * cct_loss(cls_tokens, self.layers, self.normalize,
                                           labels if self.label_weighted else None)

    @property
    def loss_name(self) -> str:
        """str: The key of this loss in the loss dict."""
        return self._loss_name
