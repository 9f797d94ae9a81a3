"""Global pooling of class activation maps into image-level class scores.

GWRP (global weighted rank pooling) is the pooling of the PatchCAM head of MCTformer+ (Xu et al.,
"MCTformer+: Multi-Class Token Transformer for Weakly Supervised Semantic Segmentation", TPAMI);
GAP and GMP are the alternatives ablated in its Table 11.
"""
import torch
from torch import Tensor

POOL_MODES = ('gwrp', 'gap', 'gmp')


def gwrp_pool(x: Tensor, decay: float = 0.996) -> Tensor:
    """Global weighted rank pooling over the spatial dimensions.

    For each map the M = h * w activations are sorted in decreasing order
    ``p_1 >= ... >= p_M`` and pooled as ``sum_j decay**(j-1) * p_j / sum_j decay**(j-1)``.
    ``decay=1`` is global average pooling; ``decay -> 0`` tends to global max pooling.

    The weighted sum is computed in float32 (safe under AMP) and cast back to the input dtype.

    Args:
        x (Tensor): Maps of shape (B, C, h, w).
        decay (float): The rank decay lambda, in (0, 1]. Default: 0.996.

    Returns:
        Tensor: Pooled scores of shape (B, C).
    """
    if x.dim() != 4:
        raise ValueError(f'gwrp_pool: expected x of shape (B, C, h, w), got {tuple(x.shape)}')
    if not 0.0 < decay <= 1.0:
        raise ValueError(f'gwrp_pool: decay must be in (0, 1], got {decay}')
    flat = x.flatten(2).float()  # (B, C, M)
    ranked = flat.sort(dim=-1, descending=True).values
    weights = decay ** torch.arange(ranked.shape[-1], device=x.device, dtype=torch.float32)
    pooled = (ranked * weights).sum(-1) / weights.sum()
    return pooled.to(x.dtype)


def global_pool(x: Tensor, mode: str = 'gwrp', decay: float = 0.996) -> Tensor:
    """Pool maps (B, C, h, w) into scores (B, C).

    Args:
        x (Tensor): Maps of shape (B, C, h, w).
        mode (str): One of ``'gwrp'`` (:func:`gwrp_pool`), ``'gap'`` (mean) or ``'gmp'`` (max).
            Default: 'gwrp'.
        decay (float): GWRP decay, unused by the other modes. Default: 0.996.

    Returns:
        Tensor: Scores of shape (B, C).
    """
    if mode == 'gwrp':
        return gwrp_pool(x, decay)
    if x.dim() != 4:
        raise ValueError(f'global_pool: expected x of shape (B, C, h, w), got {tuple(x.shape)}')
    if mode == 'gap':
        return x.float().mean(dim=(2, 3)).to(x.dtype)
    if mode == 'gmp':
        return x.flatten(2).amax(dim=-1)
    raise ValueError(f'global_pool: unknown mode {mode!r}, expected one of {POOL_MODES}')
