"""Class-specific localisation maps of MCTformer / MCTformer+ (inference equations).

Xu et al., "Multi-class Token Transformer for Weakly Supervised Semantic Segmentation" (CVPR 2022)
and "MCTformer+" (TPAMI). Section 2 of ``docs/en/method.md``; where the paper is silent the
functions follow the authors' public MCTformer-V2 code:

- class-to-patch attention: head-averaged attention of the last K layers, summed (V2 code) or
  averaged (MCTformer+ code, K = 12), rows ``[:C, C:]``;
- PatchCAM: ReLU of the conv output (no normalisation before fusion);
- fusion: ``attention * ReLU(CAM)`` (V2 code) or ``sqrt(attention * ReLU(CAM))`` (MCTformer+ code);
- affinity: head-averaged ``[C:, C:]`` attention summed over all layers;
  ``refined[c] = A @ map[c]`` (explicitly, or as an attention with the maps as values:
  :func:`refine_with_attention_affinity`).

All maps are computed in float32, whatever the dtype of the attention (AMP-safe).

Shapes: B batch, C classes, h x w token grid, M = h * w, N = C + M tokens, L layers.
"""
from typing import TYPE_CHECKING, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from ..backbones.mct_vit import MCTViTOutput

MAP_TYPES = ('mct', 'mct_affinity', 'patchcam', 'patchcam_affinity', 'fused', 'fused_affinity')
FUSION_MODES = ('product', 'sqrt')
ATTN_REDUCES = ('sum', 'mean')

LayerSpec = Union[str, int, Sequence[int]]


def select_layers(num_layers: int, layers: LayerSpec, arg_name: str = 'layers') -> Tuple[int, ...]:
    """Resolve a layer specification into layer indices.

    Args:
        num_layers (int): Number of available layers L.
        layers (str | int | Sequence[int]): ``'all'``, ``'none'``, an int T (the last T layers)
            or explicit indices (negative ones count from the end).
        arg_name (str): Name used in error messages. Default: 'layers'.

    Returns:
        tuple[int]: Non-negative layer indices, in increasing order (no duplicates).
    """
    if isinstance(layers, str):
        if layers == 'all':
            return tuple(range(num_layers))
        if layers == 'none':
            return ()
        raise ValueError(f"{arg_name}: expected 'all', 'none', an int or a list of layer "
                         f'indices, got {layers!r}')
    if isinstance(layers, bool):
        raise TypeError(f'{arg_name}: expected an int or a list of ints, got bool {layers}')
    if isinstance(layers, int):
        if not 1 <= layers <= num_layers:
            raise ValueError(f'{arg_name}: the number of last layers must be in '
                             f'[1, {num_layers}], got {layers}')
        return tuple(range(num_layers - layers, num_layers))
    indices = []
    for idx in layers:
        if not -num_layers <= int(idx) < num_layers:
            raise ValueError(f'{arg_name}: layer index {idx} out of range for {num_layers} layers')
        indices.append(int(idx) % num_layers)
    return tuple(sorted(set(indices)))


def _check_attn(attns: Sequence[Tensor], num_classes: int, num_patches: Optional[int] = None,
                fn: str = 'attention') -> int:
    """Check a list of (B, N, N) attention maps; return M = N - C."""
    if len(attns) == 0:
        raise ValueError(f'{fn}: got an empty list of attention maps')
    shape = tuple(attns[0].shape)
    if len(shape) != 3 or shape[1] not in (shape[2], num_classes):
        raise ValueError(f'{fn}: expected attention maps of shape (B, C + M, C + M) or their '
                         f'class-token rows (B, C, C + M) with C={num_classes}, got {shape}')
    num_tokens = shape[2]
    if num_patches is not None and num_tokens != num_classes + num_patches:
        raise ValueError(f'{fn}: attention has N={num_tokens} tokens, expected N == C + h*w with '
                         f'C={num_classes}, h*w={num_patches}')
    if num_tokens <= num_classes:
        raise ValueError(f'{fn}: attention has N={num_tokens} tokens, not more than '
                         f'C={num_classes} class tokens')
    return num_tokens - num_classes


def class_to_patch_attention(attns: Sequence[Tensor], num_classes: int, hw: Tuple[int, int],
                             top_k: int = 3, reduce: str = 'sum') -> Tensor:
    """Class-to-patch attention maps A_mct.

    ``sum_{l in last top_k layers} attn_l[:, :C, C:]`` (or the mean over those layers) reshaped to
    the token grid.

    Args:
        attns (Sequence[Tensor]): L head-averaged attention maps, each (B, C + M, C + M).
        num_classes (int): Number of class tokens C.
        hw (tuple[int, int]): Token grid (h, w), h * w = M.
        top_k (int): Number of last layers. Default: 3.
        reduce (str): ``'sum'`` (V2 code) or ``'mean'`` (MCTformer+ code) over the layers.
            Default: 'sum'.

    Returns:
        Tensor: Maps of shape (B, C, h, w), float32.
    """
    h, w = hw
    if reduce not in ATTN_REDUCES:
        raise ValueError(f'class_to_patch_attention: unknown reduce {reduce!r}, expected one of '
                         f'{ATTN_REDUCES}')
    _check_attn(attns, num_classes, h * w, 'class_to_patch_attention')
    layers = select_layers(len(attns), top_k, 'class_to_patch_attention: top_k')
    summed = sum(attns[i][:, :num_classes, num_classes:].float() for i in layers)
    if reduce == 'mean':
        summed = summed / len(layers)
    return summed.reshape(summed.shape[0], num_classes, h, w)


def patch_affinity(attns: Sequence[Tensor], num_classes: int, layers: LayerSpec = 'all') -> Tensor:
    """Patch-to-patch affinity A_p2p: ``sum_l attn_l[:, C:, C:]``.

    Args:
        attns (Sequence[Tensor]): L head-averaged attention maps, each (B, C + M, C + M).
        num_classes (int): Number of class tokens C.
        layers (str | int | Sequence[int]): Layers summed: ``'all'`` (reference code), an int T
            (last T) or indices. Default: 'all'.

    Returns:
        Tensor: Affinity of shape (B, M, M), float32.
    """
    _check_attn(attns, num_classes, None, 'patch_affinity')
    indices = select_layers(len(attns), layers, 'patch_affinity: layers')
    if not indices:
        raise ValueError("patch_affinity: layers selects no layer ('none' is not allowed)")
    return sum(attns[i][:, num_classes:, num_classes:].float() for i in indices)


def fuse_maps(mct: Tensor, cam: Tensor, mode: str = 'product') -> Tensor:
    """Fuse class-to-patch attention with PatchCAM.

    ``'product'``: ``mct * ReLU(cam)`` (the paper, the authors' V2 code); ``'sqrt'``:
    ``sqrt(mct * ReLU(cam))``, the geometric mean (the authors' MCTformer+ code).

    Args:
        mct (Tensor): Class-to-patch attention (B, C, h, w), non-negative.
        cam (Tensor): Raw PatchCAM conv output (B, C, h, w).
        mode (str): ``'product'`` or ``'sqrt'``. Default: 'product'.

    Returns:
        Tensor: Fused maps (B, C, h, w), float32.
    """
    if mct.shape != cam.shape:
        raise ValueError(f'fuse_maps: mct {tuple(mct.shape)} and cam {tuple(cam.shape)} must '
                         'have the same shape (B, C, h, w)')
    if mode not in FUSION_MODES:
        raise ValueError(f'fuse_maps: unknown mode {mode!r}, expected one of {FUSION_MODES}')
    fused = mct.float() * cam.float().clamp(min=0)
    return fused.sqrt() if mode == 'sqrt' else fused


def refine_with_affinity(maps: Tensor, affinity: Tensor) -> Tensor:
    """Propagate each class map with the patch affinity: ``refined[b, c] = A[b] @ maps[b, c]``.

    With maps flattened over the M positions, ``refined[b, c, i] = sum_j A[b, i, j] maps[b, c, j]``.

    Args:
        maps (Tensor): Maps (B, C, h, w).
        affinity (Tensor): Patch affinity (B, M, M) with M = h * w.

    Returns:
        Tensor: Refined maps (B, C, h, w), float32.
    """
    b, c, h, w = maps.shape
    if affinity.shape != (b, h * w, h * w):
        raise ValueError(f'refine_with_affinity: affinity has shape {tuple(affinity.shape)}, '
                         f'expected (B, M, M) = ({b}, {h * w}, {h * w}) for maps '
                         f'{tuple(maps.shape)}')
    flat = maps.float().reshape(b, c, h * w)
    refined = torch.einsum('bij,bcj->bci', affinity.float(), flat)
    return refined.reshape(b, c, h, w)


def refine_with_attention_affinity(maps: Tensor, qs: Sequence[Tensor], ks: Sequence[Tensor],
                                   num_classes: int, layers: LayerSpec = 'all',
                                   scale: Optional[float] = None) -> Tensor:
    """Same as ``refine_with_affinity(maps, patch_affinity(attns, C, layers))``, never building
    an N x N matrix.

    ``sum_l mean_h softmax(q_lh k_lh^T * scale)[C:, C:] @ maps`` is an attention of the patch
    queries over all N keys whose values are the maps (zero for the C class tokens), so it runs
    through ``F.scaled_dot_product_attention`` (memory linear in N on its flash / memory-efficient
    kernels). The values are zero-padded to the head dimension and taken in chunks of it, because
    the CPU flash kernel needs values as wide as the queries.

    Args:
        maps (Tensor): Maps (B, K, h, w) (K maps, usually the C classes).
        qs (Sequence[Tensor]): L per-head queries, each (B, H, C + M, E), unscaled.
        ks (Sequence[Tensor]): L per-head keys, each (B, H, C + M, E).
        num_classes (int): Number of class tokens C (the first C tokens).
        layers (str | int | Sequence[int]): Layers summed, as in :func:`patch_affinity`.
            Default: 'all'.
        scale (float, optional): Attention scale; ``E ** -0.5`` (the backbone's) when None.

    Returns:
        Tensor: Refined maps (B, K, h, w), float32.
    """
    fn = 'refine_with_attention_affinity'
    b, c, h, w = maps.shape
    m = h * w
    if len(qs) != len(ks) or not qs:
        raise ValueError(f'{fn}: expected as many queries as keys (one per layer, at least '
                         f'one), got {len(qs)} and {len(ks)}')
    shape = tuple(qs[0].shape)
    expected = (b, shape[1] if len(shape) == 4 else -1, num_classes + m,
                shape[-1] if shape else -1)
    for q, k in zip(qs, ks):
        if tuple(q.shape) != expected or tuple(k.shape) != expected:
            raise ValueError(f'{fn}: queries {tuple(q.shape)} and keys {tuple(k.shape)} must be '
                             f'(B, H, C + M, E) = (B={b}, H, {num_classes} + {h}*{w}, E) for '
                             f'maps {tuple(maps.shape)}')
    indices = select_layers(len(qs), layers, f'{fn}: layers')
    if not indices:
        raise ValueError(f"{fn}: layers selects no layer ('none' is not allowed)")
    heads, dim = expected[1], expected[3]
    chunks = -(-c // dim)
    values = maps.new_zeros((b, num_classes + m, chunks * dim), dtype=torch.float32)
    values[:, num_classes:, :c] = maps.float().reshape(b, c, m).transpose(1, 2)
    values = values.reshape(b, 1, num_classes + m, chunks, dim)
    refined = maps.new_zeros((b, m, c), dtype=torch.float32)
    for i in indices:
        q = qs[i][:, :, num_classes:].float()  # (B, H, M, E): patch queries only
        k = ks[i].float()
        outs = [
            F.scaled_dot_product_attention(
                q, k, values[..., j, :].expand(b, heads, -1, -1), scale=scale)
            for j in range(chunks)
        ]  # chunks x (B, H, M, E); one chunk (K <= E, as C = 20 of E = 64) needs no concatenation
        out = outs[0] if chunks == 1 else torch.cat(outs, dim=-1)  # (B, H, M, chunks * E)
        refined += out[..., :c].mean(dim=1)
    return refined.transpose(1, 2).reshape(b, c, h, w)


def minmax_normalise(maps: Tensor, eps: float = 1e-5) -> Tensor:
    """Min-max normalise every map to [0, 1] over its last two (spatial) dimensions.

    ``(x - min) / (max - min + eps)``; a constant map becomes 0.

    Args:
        maps (Tensor): Maps (..., H, W).
        eps (float): Added to the range. Default: 1e-5.

    Returns:
        Tensor: Normalised maps, same shape, float32.
    """
    flat = maps.float().flatten(-2)
    low = flat.amin(dim=-1, keepdim=True)
    high = flat.amax(dim=-1, keepdim=True)
    return ((flat - low) / (high - low + eps)).reshape(maps.shape)


def localization_maps(feats: 'MCTViTOutput', cams: Optional[Tensor], num_classes: int,
                      map_type: str = 'fused_affinity', top_k: int = 3,
                      affinity_layers: LayerSpec = 'all', fusion: str = 'product',
                      attn_reduce: str = 'sum') -> Tensor:
    """Class localisation maps at token resolution, one of the rows of Table 7 (MCTformer).

    ============================  ===========================================
    ``map_type``                  map
    ============================  ===========================================
    ``'mct'``                     class-to-patch attention (47.2 seed mIoU)
    ``'mct_affinity'``            + patch affinity (55.2)
    ``'patchcam'``                ReLU(PatchCAM)
    ``'patchcam_affinity'``       ReLU(PatchCAM) + patch affinity
    ``'fused'``                   attention * ReLU(PatchCAM) (58.2)
    ``'fused_affinity'``          fused + patch affinity (61.7)
    ============================  ===========================================

    Args:
        feats (MCTViTOutput): Output of ``MultiClassTokenViT.forward``; uses ``patch_tokens``
            (B, D, h, w) and ``attention`` (a ``BlockAttention``): its class-token rows L x
            (B, C, C + M) for the class-to-patch attention, and for the affinity its ``weights``
            L x (B, C + M, C + M) (``path='explicit'``) or its queries / keys L x (B, H, C + M, E)
            (``path='sdpa'``: :func:`refine_with_attention_affinity`, memory linear in M).
        cams (Tensor, optional): Raw PatchCAM output (B, C, h, w); needed by the ``patchcam*`` and
            ``fused*`` types.
        num_classes (int): Number of classes C.
        map_type (str): See the table. Default: 'fused_affinity'.
        top_k (int): Layers summed for the class-to-patch attention. Default: 3.
        affinity_layers (str | int | Sequence[int]): Layers summed for the affinity.
            Default: 'all'.
        fusion (str): ``'product'`` or ``'sqrt'`` (:func:`fuse_maps`). Default: 'product'.
        attn_reduce (str): ``'sum'`` or ``'mean'`` over the ``top_k`` layers
            (:func:`class_to_patch_attention`). Default: 'sum'.

    Returns:
        Tensor: Maps (B, C, h, w), float32, not normalised.
    """
    if map_type not in MAP_TYPES:
        raise ValueError(f'localization_maps: unknown map_type {map_type!r}, expected one of '
                         f'{MAP_TYPES}')
    attention = feats.attention
    if map_needs_attention(map_type) and attention is None:
        raise ValueError(f'localization_maps: map_type {map_type!r} needs the attention of '
                         "every block; run the backbone with attn_path='sdpa' or 'explicit'")
    if map_type.startswith(('patchcam', 'fused')) and cams is None:
        raise ValueError(f'localization_maps: map_type {map_type!r} needs PatchCAM maps, got '
                         'cams=None (model without cam_head?)')
    if cams is not None:
        hw = tuple(cams.shape[-2:])
    else:
        hw = tuple(feats.patch_tokens.shape[-2:])

    base = map_type[:-len('_affinity')] if map_type.endswith('_affinity') else map_type
    if base == 'mct':
        maps = class_to_patch_attention(attention.cls_rows, num_classes, hw, top_k, attn_reduce)
    elif base == 'patchcam':
        maps = cams.float().clamp(min=0)
    else:
        maps = fuse_maps(
            class_to_patch_attention(attention.cls_rows, num_classes, hw, top_k, attn_reduce),
            cams, fusion)
    if map_type.endswith('_affinity'):
        _check_attn(attention.cls_rows, num_classes, hw[0] * hw[1], 'localization_maps')
        if attention.path == 'sdpa':
            maps = refine_with_attention_affinity(maps, attention.q, attention.k, num_classes,
                                                  affinity_layers)
        else:
            maps = refine_with_affinity(maps, patch_affinity(attention.weights, num_classes,
                                                             affinity_layers))
    return maps


def map_needs_attention(map_type: str) -> bool:
    """Whether ``map_type`` (:data:`MAP_TYPES`) reads the attention (all but ``'patchcam'``)."""
    return map_type != 'patchcam'
