"""PatchCAM head of MCTformer-V2 / MCTformer+: class activation maps from the patch tokens."""
from typing import Dict, Optional, Tuple

import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

from ..utils.pooling import POOL_MODES, global_pool


@MODELS.register_module()
class PatchCAMHead(BaseModule):
    """Patch-token CAM head with global pooling into class scores.

    "MCTformer+: Multi-Class Token Transformer for Weakly Supervised Semantic Segmentation"
    (Xu et al., TPAMI). A conv (3 x 3 in the reference code) maps the patch-token grid
    (B, D, h, w) to C class activation maps F (B, C, h, w); the class scores are a global pooling
    of F: GAP (MCTformer-V2), GMP or GWRP (MCTformer+, Table 11: 59.4 / 66.1 / 68.8 seed mIoU).

    ``loss(): forward() -> loss_by_scores()``

    Args:
        num_classes (int): Number of foreground classes C.
        in_channels (int): Patch-token dimension D. Default: 384.
        kernel_size (int): Conv kernel size (odd; 'same' padding). Default: 3.
        pool (str): ``'gwrp'``, ``'gap'`` or ``'gmp'``. Default: 'gwrp'.
        gwrp_decay (float): GWRP decay lambda. Default: 0.996.
        loss_cls (dict, optional): Config of the classification loss; None means
            ``dict(type='MultiLabelSoftMarginLoss', loss_name='loss_patch_cam')``. Default: None.
        init_cfg (dict, optional): Initialisation config; None means trunc-normal (std 0.02)
            conv weights and zero bias, as the reference code. Default: None.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int = 384,
                 kernel_size: int = 3,
                 pool: str = 'gwrp',
                 gwrp_decay: float = 0.996,
                 loss_cls: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if init_cfg is None:
            init_cfg = dict(type='TruncNormal', layer='Conv2d', std=0.02, bias=0.0)
        super().__init__(init_cfg=init_cfg)
        if loss_cls is None:
            loss_cls = dict(type='MultiLabelSoftMarginLoss', loss_name='loss_patch_cam')
        if pool not in POOL_MODES:
            raise ValueError(f'PatchCAMHead: unknown pool {pool!r}, expected one of {POOL_MODES}')
        if kernel_size % 2 != 1:
            raise ValueError(f'PatchCAMHead: kernel_size must be odd, got {kernel_size}')
        if not 0.0 < gwrp_decay <= 1.0:
            raise ValueError(f'PatchCAMHead: gwrp_decay must be in (0, 1], got {gwrp_decay}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.pool = pool
        self.gwrp_decay = gwrp_decay
        self.conv = nn.Conv2d(in_channels, num_classes, kernel_size, padding=kernel_size // 2)
        self.loss_cls = MODELS.build(loss_cls)

    def forward(self, patch_tokens: Tensor) -> Tuple[Tensor, Tensor]:
        """CAMs and pooled scores.

        Args:
            patch_tokens (Tensor): Patch-token grid (B, D, h, w).

        Returns:
            tuple[Tensor, Tensor]: Raw CAMs (B, C, h, w) and class logits (B, C).
        """
        if patch_tokens.dim() != 4 or patch_tokens.shape[1] != self.in_channels:
            raise ValueError(f'PatchCAMHead: expected patch tokens (B, D, h, w) with '
                             f'D={self.in_channels}, got {tuple(patch_tokens.shape)}')
        cams = self.conv(patch_tokens)
        return cams, global_pool(cams, self.pool, self.gwrp_decay)

    def loss_by_scores(self, scores: Tensor, labels: Tensor) -> Dict[str, Tensor]:
        """Loss dict from scores (B, C) and multi-hot labels (B, C)."""
        return {self.loss_cls.loss_name: self.loss_cls(scores, labels)}

    def loss(self, patch_tokens: Tensor, labels: Tensor) -> Dict[str, Tensor]:
        """Forward and compute the loss.

        Args:
            patch_tokens (Tensor): Patch-token grid (B, D, h, w).
            labels (Tensor): Multi-hot labels (B, C).

        Returns:
            dict[str, Tensor]: ``{loss_name: loss}``.
        """
        return self.loss_by_scores(self(patch_tokens)[1], labels)
