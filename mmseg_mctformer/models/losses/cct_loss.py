"""Contrastive class-token (CCT) loss of MCTformer+.

Xu et al., "MCTformer+: Multi-Class Token Transformer for Weakly Supervised Semantic
Segmentation" (TPAMI).
"""
from typing import Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ..utils.localization import select_layers


def cct_loss(cls_tokens: Sequence[Tensor],
             layers: Union[str, int, Sequence[int]] = 'all') -> Tensor:
    """Contrastive class-token loss averaged over the chosen layers.

    For the class tokens ``T`` (B, C, D) of a layer, ``S = T T^T`` (B, C, C) and the loss is the
    cross-entropy of each row ``S[b, c]`` against target class ``c``, averaged over B and C; the
    layer losses are then averaged. Plain (unnormalised) dot products, as in the paper; see
    :class:`ContrastiveClassTokenLoss` for the numerics.

    Args:
        cls_tokens (Sequence[Tensor]): L tensors (B, C, D), the class tokens after every block.
        layers (str | int | Sequence[int]): ``'all'``, ``'none'``, an int T (last T layers) or a
            list of layer indices. Default: 'all'.

    Returns:
        Tensor: Scalar float32 loss (0 connected to the graph when no layer is selected).
    """
    if len(cls_tokens) == 0:
        raise ValueError('cct_loss: got an empty list of class tokens')
    indices = select_layers(len(cls_tokens), layers, 'ContrastiveClassTokenLoss: layers')
    if not indices:
        return cls_tokens[-1].float().sum() * 0.0
    losses = []
    for i in indices:
        tokens = cls_tokens[i].float()  # (B, C, D)
        if tokens.dim() != 3:
            raise ValueError(f'cct_loss: class tokens of layer {i} have shape '
                             f'{tuple(tokens.shape)}, expected (B, C, D)')
        batch, num_classes, _ = tokens.shape
        sim = tokens @ tokens.transpose(1, 2)  # (B, C, C)
        target = torch.arange(num_classes, device=tokens.device).repeat(batch)
        losses.append(F.cross_entropy(sim.reshape(batch * num_classes, num_classes), target))
    return torch.stack(losses).mean()


@MODELS.register_module()
class ContrastiveClassTokenLoss(nn.Module):
    """Contrastive class-token (CCT) loss of MCTformer+.

    "MCTformer+: Multi-Class Token Transformer for Weakly Supervised Semantic Segmentation"
    (Xu et al., TPAMI). Pushes the C class tokens of every chosen layer apart: per layer,
    ``S = T T^T`` (B, C, C) and each row is classified to its own index with a cross-entropy
    (:func:`cct_loss`); the loss is the mean over the chosen layers.

    Numerics: the tokens are **not** normalised (plain dot products as in the paper). The
    similarities are computed in float32 even when the tokens are float16 (AMP): in float16 a
    token of norm > 256 (e.g. D = 384 with entries around 13) already overflows ``T T^T`` to inf.
    In float32 the log-softmax of the cross-entropy is shift-invariant and stays finite for
    large logits; very large norms only make the loss saturate (near 0 once tokens are
    orthogonal, large and linear in the norm^2 gap otherwise).

    Args:
        layers (str | int | list[int]): Layers the loss is applied to: ``'all'`` (paper default,
            best in its Fig. 11), an int T (the last T layers), a list of layer indices, or
            ``'none'`` (loss 0). Default: 'all'.
        loss_weight (float): Weight gamma of the loss. Default: 1.0.
        loss_name (str): Key in the loss dict, must start with ``loss_``. Default: 'loss_cct'.
    """

    def __init__(self, layers: Union[str, int, Sequence[int]] = 'all',
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
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, cls_tokens: Sequence[Tensor]) -> Tensor:
        """Compute the loss.

        Args:
            cls_tokens (Sequence[Tensor]): L tensors (B, C, D), class tokens after every block.

        Returns:
            Tensor: Scalar float32 loss times ``loss_weight``.
        """
        return self.loss_weight * cct_loss(cls_tokens, self.layers)

    @property
    def loss_name(self) -> str:
        """str: The key of this loss in the loss dict."""
        return self._loss_name
