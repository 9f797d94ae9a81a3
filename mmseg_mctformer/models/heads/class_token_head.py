"""Class-token head of MCTformer: one score per class token."""
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

CLS_POOL_MODES = ('avg', 'max', 'linear')


@MODELS.register_module()
class ClassTokenPoolHead(BaseModule):
    """Scores from the final class tokens of a multi-class-token ViT.

    "Multi-class Token Transformer for Weakly Supervised Semantic Segmentation" (Xu et al.,
    CVPR 2022, https://arxiv.org/abs/2203.02891). Class ``c``'s score is a pooling of output class
    token ``c`` over its D channels. Table 9 of the paper: average pooling (no parameters) 47.2
    mIoU, a per-class fully connected layer 41.5, max pooling 26.8.

    ``loss(): forward() -> loss_by_scores()``

    Args:
        num_classes (int): Number of foreground classes C.
        in_channels (int): Token dimension D. Default: 384.
        pool (str): ``'avg'`` (mean over D), ``'max'`` (max over D) or ``'linear'`` (one linear
            unit per class token: ``w_c . T_c + b_c``, as the reference code's grouped conv).
            Default: 'avg'.
        loss_cls (dict, optional): Config of the classification loss; None means
            ``dict(type='MultiLabelSoftMarginLoss', loss_name='loss_cls_token')``. Default: None.
        init_cfg (dict, optional): Initialisation config. Default: None.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int = 384,
                 pool: str = 'avg',
                 loss_cls: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if loss_cls is None:
            loss_cls = dict(type='MultiLabelSoftMarginLoss', loss_name='loss_cls_token')
        if pool not in CLS_POOL_MODES:
            raise ValueError(f'ClassTokenPoolHead: unknown pool {pool!r}, expected one of '
                             f'{CLS_POOL_MODES}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.pool = pool
        if pool == 'linear':
            self.weight = nn.Parameter(torch.empty(num_classes, in_channels))
            self.bias = nn.Parameter(torch.zeros(num_classes))
            nn.init.trunc_normal_(self.weight, std=0.02)
        self.loss_cls = MODELS.build(loss_cls)

    def forward(self, cls_token: Tensor) -> Tensor:
        """Class scores.

        Args:
            cls_token (Tensor): Final class tokens (B, C, D).

        Returns:
            Tensor: Logits (B, C).
        """
        if cls_token.dim() != 3 or cls_token.shape[1:] != (self.num_classes, self.in_channels):
            raise ValueError(f'ClassTokenPoolHead: expected class tokens (B, C, D) = (B, '
                             f'{self.num_classes}, {self.in_channels}), got '
                             f'{tuple(cls_token.shape)}')
        if self.pool == 'avg':
            return cls_token.mean(-1)
        if self.pool == 'max':
            return cls_token.amax(-1)
        return (cls_token * self.weight).sum(-1) + self.bias

    def loss_by_scores(self, scores: Tensor, labels: Tensor) -> Dict[str, Tensor]:
        """Loss dict from scores (B, C) and multi-hot labels (B, C)."""
        return {self.loss_cls.loss_name: self.loss_cls(scores, labels)}

    def loss(self, cls_token: Tensor, labels: Tensor) -> Dict[str, Tensor]:
        """Forward and compute the loss.

        Args:
            cls_token (Tensor): Final class tokens (B, C, D).
            labels (Tensor): Multi-hot labels (B, C).

        Returns:
            dict[str, Tensor]: ``{loss_name: loss}``.
        """
        return self.loss_by_scores(self(cls_token), labels)
