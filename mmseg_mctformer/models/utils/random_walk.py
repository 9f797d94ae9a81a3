"""Pixel affinities within a radius and the random walk that propagates class maps along them.

"Learning Pixel-level Semantic Affinity with Image-level Supervision for Weakly Supervised Semantic
Segmentation" (PSA / AffinityNet, Ahn & Kwak, CVPR 2018, https://arxiv.org/abs/1803.10464):

- the affinity of two positions i, j of a feature map f is ``a_ij = exp(-||f_i - f_j||_1 / D)``
  (mean absolute difference over the D channels), computed only for pairs closer than a radius;
- the pairs are stored once per unordered pair, as offsets ``(dy, dx)`` of the lower half plane
  (``dy > 0``, or ``dy == 0`` and ``dx > 0``), so the affinity of an image is a tensor (P, h, w):
  entry ``[p, y, x]`` is the affinity of ``(y, x)`` and ``(y + dy_p, x + dx_p)``;
- random walk: ``T = D^-1 A^beta`` with ``A`` the symmetric affinity matrix over the h*w positions
  (self affinity 1, pairs beyond the radius 0) normalised per column; the class maps ``v`` (K, h*w)
  become ``v T^t`` with ``t = 2^logt`` (PSA: beta 8, logt 6).
"""
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def radius_offsets(radius: int) -> List[Tuple[int, int]]:
    """Offsets ``(dy, dx)`` of the half plane with ``dy^2 + dx^2 < radius^2``.

    Every unordered pair of positions closer than ``radius`` appears exactly once.

    Args:
        radius (int): Pairs strictly closer than this (in feature-map cells) are kept; >= 2.

    Returns:
        list[tuple[int, int]]: The offsets, row-major (by ``dy`` then ``dx``).
    """
    if int(radius) != radius or radius < 2:
        raise ValueError(f'radius_offsets: radius must be an integer >= 2, got {radius!r}')
    radius = int(radius)
    offsets = []
    for dy in range(0, radius):
        for dx in range(-radius + 1, radius):
            if dy == 0 and dx <= 0:
                continue
            if dy * dy + dx * dx < radius * radius:
                offsets.append((dy, dx))
    return offsets


def _shift_slices(dy: int, dx: int, h: int, w: int):
    """Slices of the source ``(y, x)`` and target ``(y + dy, x + dx)`` positions inside (h, w)."""
    src = (slice(0, max(h - dy, 0)), slice(max(-dx, 0), max(w - max(dx, 0), 0)))
    dst = (slice(dy, h), slice(max(dx, 0), w + min(dx, 0)))
    return src, dst


def pair_valid_mask(hw: Tuple[int, int], offsets, device=None) -> Tensor:
    """Which pairs lie inside an (h, w) grid.

    Returns:
        Tensor: Bool (P, h, w); ``[p, y, x]`` is True when ``(y + dy_p, x + dx_p)`` is inside.
    """
    h, w = hw
    valid = torch.zeros(len(offsets), h, w, dtype=torch.bool, device=device)
    for p, (dy, dx) in enumerate(offsets):
        src, _ = _shift_slices(dy, dx, h, w)
        valid[p][src] = True
    return valid


def shifted(x: Tensor, offsets) -> List[Tensor]:
    """``x`` moved by each offset, zero outside the grid.

    Built from one zero-padded copy by slicing (no in-place writes), so that the backward pass
    of the affinities costs one pass over the features per offset.

    Args:
        x (Tensor): Values (B, D, h, w).
        offsets (Sequence[tuple[int, int]]): Pair offsets (P of them).

    Returns:
        list[Tensor]: P tensors (B, D, h, w); entry ``p`` at ``(y, x)`` is ``x[..., y + dy_p,
        x + dx_p]``, 0 where that lies outside the grid (see :func:`pair_valid_mask`).
    """
    h, w = x.shape[-2:]
    down = max(max(dy for dy, _ in offsets), 0)
    left = max(max(-dx for _, dx in offsets), 0)
    right = max(max(dx for _, dx in offsets), 0)
    padded = F.pad(x, (left, right, 0, down))
    return [padded[..., dy:dy + h, left + dx:left + dx + w] for dy, dx in offsets]


def pairwise_affinity(feats: Tensor, offsets) -> Tensor:
    """PSA affinity ``exp(-mean_d |f_i - f_j|)`` of every pair within the radius.

    Args:
        feats (Tensor): Affinity features (B, D, h, w).
        offsets (Sequence[tuple[int, int]]): Pair offsets (P of them), e.g. :func:`radius_offsets`.

    Returns:
        Tensor: Affinities (B, P, h, w) in (0, 1]; entries of pairs outside the grid are
        meaningless (mask them with :func:`pair_valid_mask`).
    """
    # one (B, D, h, w) difference at a time: never the (B, D, P, h, w) tensor of all pairs
    return torch.stack([torch.exp(-(feats - other).abs().mean(dim=1))
                        for other in shifted(feats, offsets)], dim=1)


def affinity_pair_labels(label: Tensor, offsets, ignore_index: int = 255):
    """Pair labels of PSA from a label map with unconfident pixels ignored.

    Args:
        label (Tensor): Labels (B, h, w): 0 background, 1..C classes, ``ignore_index`` unconfident.
        offsets (Sequence[tuple[int, int]]): Pair offsets (P of them).
        ignore_index (int): Label of the unconfident pixels. Default: 255.

    Returns:
        tuple[Tensor, Tensor, Tensor]: Bool masks (B, P, h, w) of the background-background
        pairs, the same-class foreground pairs (both positive) and the pairs of different labels
        (negative). Pairs with an unconfident end or outside the grid are in none of them.
    """
    B, h, w = label.shape
    label = label.long()
    first = label.unsqueeze(1).expand(-1, len(offsets), -1, -1)  # (B, P, h, w)
    second = torch.stack([other[:, 0] for other in shifted(label.unsqueeze(1), offsets)], dim=1)
    valid = pair_valid_mask((h, w), offsets, label.device).unsqueeze(0)
    valid = valid & (first != ignore_index) & (second != ignore_index)
    same = first == second
    pos_bg = valid & same & (first == 0)
    pos_fg = valid & same & (first != 0)
    neg = valid & ~same
    return pos_bg, pos_fg, neg


def transition_matrix(aff: Tensor, offsets, beta: float = 8.0) -> Tensor:
    """Sparse column-normalised transition matrix ``D^-1 A^beta`` of one image.

    Args:
        aff (Tensor): Affinities (P, h, w) of one image (:func:`pairwise_affinity`).
        offsets (Sequence[tuple[int, int]]): Pair offsets (P of them).
        beta (float): Power applied to the affinities (sharpens them). Default: 8.

    Returns:
        Tensor: Sparse COO (N, N), N = h * w; columns sum to 1; entry (i, j) is the weight of
        position i in the new value of position j. Self affinity is 1.
    """
    P, h, w = aff.shape
    if P != len(offsets):
        raise ValueError(f'transition_matrix: {P} affinity channels but {len(offsets)} offsets')
    device = aff.device
    idx = torch.arange(h * w, device=device).view(h, w)
    rows, cols, vals = [idx.flatten()], [idx.flatten()], [aff.new_ones(h * w)]
    for p, (dy, dx) in enumerate(offsets):
        src, dst = _shift_slices(dy, dx, h, w)
        a, b = idx[src].flatten(), idx[dst].flatten()
        v = aff[p][src].flatten().clamp(min=0).pow(beta)
        rows += [a, b]
        cols += [b, a]
        vals += [v, v]
    rows, cols, vals = torch.cat(rows), torch.cat(cols), torch.cat(vals)
    col_sum = torch.zeros(h * w, dtype=vals.dtype, device=device).index_add_(0, cols, vals)
    vals = vals / col_sum[cols]
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (h * w, h * w)).coalesce()


def neighbour_weights(aff: Tensor, offsets, beta: float = 8.0) -> Tuple[Tensor, int]:
    """The columns of ``A^beta`` as a window per position: the dense form of
    :func:`transition_matrix` (before normalisation) that ``F.unfold`` can apply.

    Args:
        aff (Tensor): Affinities (P, h, w) of one image.
        offsets (Sequence[tuple[int, int]]): Pair offsets (P of them).
        beta (float): Affinity power. Default: 8.

    Returns:
        tuple[Tensor, int]: Weights (k * k, h, w), ``k = 2 * reach + 1``: entry
        ``[(dy + reach) * k + dx + reach, y, x]`` is ``A[(y, x), (y + dy, x + dx)]^beta`` (1 at
        the centre, 0 beyond the radius or the grid), and ``reach`` (the largest offset).
    """
    P, h, w = aff.shape
    if P != len(offsets):
        raise ValueError(f'neighbour_weights: {P} affinity channels but {len(offsets)} offsets')
    reach = max(max(abs(dy), abs(dx)) for dy, dx in offsets)
    k = 2 * reach + 1
    weights = aff.new_zeros(k * k, h, w)
    weights[reach * k + reach] = 1
    powered = aff.clamp(min=0).pow(beta)
    for p, (dy, dx) in enumerate(offsets):
        src, dst = _shift_slices(dy, dx, h, w)
        # target (y, x) <- source (y + dy, x + dx), and the reverse pair from the target's side
        weights[(dy + reach) * k + dx + reach][src] = powered[p][src]
        weights[(reach - dy) * k + reach - dx][dst] = powered[p][src]
    return weights, reach


def random_walk(maps: Tensor, aff: Tensor, offsets, beta: float = 8.0, logt: int = 6,
                dense_limit: int = 4096) -> Tensor:
    """Propagate class maps by ``2^logt`` random-walk steps (PSA).

    Equal to ``maps @ T^(2^logt)`` with ``T`` of :func:`transition_matrix`, computed step by step
    (``t`` products with a (K, N) matrix, cheaper than PSA's ``logt`` squarings of the N x N
    matrix): with the dense ``T`` when ``N = h * w <= dense_limit`` (a BLAS product per step),
    else on the windows of :func:`neighbour_weights` (``F.unfold``, memory linear in N).

    Args:
        maps (Tensor): Class scores (K, h, w) on the affinity grid (background included).
        aff (Tensor): Affinities (P, h, w) of the same image (:func:`pairwise_affinity`).
        offsets (Sequence[tuple[int, int]]): Pair offsets (P of them).
        beta (float): Affinity power. Default: 8.
        logt (int): log2 of the number of steps. Default: 6 (64 steps).
        dense_limit (int): Largest N of the dense path. Default: 4096.

    Returns:
        Tensor: Propagated scores (K, h, w).
    """
    K, h, w = maps.shape
    if aff.shape[1:] != (h, w):
        raise ValueError(f'random_walk: maps of size {(h, w)} but affinities of size '
                         f'{tuple(aff.shape[1:])}')
    weights, reach = neighbour_weights(aff.float(), offsets, beta)  # (k * k, h, w)
    k = 2 * reach + 1
    weights = weights.view(k * k, h * w)
    weights = weights / weights.sum(0, keepdim=True)  # column normalisation of T
    steps = 2**int(logt)
    if h * w <= dense_limit:
        # T[j + o, j] = weights[o, j] for the window offsets o that stay inside the grid
        dy, dx = torch.meshgrid(torch.arange(-reach, reach + 1), torch.arange(-reach, reach + 1),
                                indexing='ij')
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
        src_y = ys.flatten()[None] + dy.flatten()[:, None]  # (k * k, N)
        src_x = xs.flatten()[None] + dx.flatten()[:, None]
        inside = (src_y >= 0) & (src_y < h) & (src_x >= 0) & (src_x < w)
        rows = (src_y * w + src_x)[inside].to(maps.device)
        cols = torch.arange(h * w).expand(k * k, -1)[inside].to(maps.device)
        trans = weights.new_zeros(h * w, h * w)
        trans[rows, cols] = weights[inside.to(maps.device)]
        v = maps.float().reshape(K, h * w)
        for _ in range(steps):
            v = v @ trans
        return v.view(K, h, w)
    v = maps.float().unsqueeze(1)  # (K, 1, h, w)
    for _ in range(steps):
        windows = F.unfold(v, k, padding=reach)  # (K, k * k, h * w)
        v = (windows * weights).sum(1).view(K, 1, h, w)
    return v.view(K, h, w)
