"""Checkpoints of the authors' MCTformer V1 / V2 / MCTformer+ code -> our segmentor layout."""
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor

from .deit import convert_deit
from .layout import drop_dist_token, unwrap_state_dict

AUTHORS_FORMATS = ('mctformer-v1', 'mctformer-v2', 'mctformer-plus')


def detect_authors_format(state: Dict[str, Tensor]) -> Optional[str]:
    """``'mctformer-plus'`` / ``'mctformer-v2'`` / ``'mctformer-v1'`` for a state dict of the
    authors' MCTformer code (timm ``blocks.N.*`` keys with C > 1 class tokens or split position
    tables), else None."""
    if 'pos_embed_cls' in state and 'pos_embed_pat' in state:
        return 'mctformer-plus'
    token = state.get('cls_token')
    if not isinstance(token, Tensor) or 'blocks.0.attn.qkv.weight' not in state:
        return None
    head = state.get('head.weight')
    if isinstance(head, Tensor) and head.ndim == 4:
        return 'mctformer-v2'
    if token.ndim == 3 and token.shape[1] > 1:
        return 'mctformer-v1'
    return None


def convert_mctformer(ckpt: dict, dropped: Optional[list] = None
                      ) -> Tuple[Dict[str, Tensor], dict]:
    """A checkpoint of the authors' MCTformer V1 / V2 / MCTformer+ code -> our segmentor layout.

    ============================================  ==============================================
    authors' key (shape)                          ours
    ============================================  ==============================================
    ``cls_token`` (1, C, D)                       ``backbone.cls_token``
    V1/V2 ``pos_embed`` (1, C + G*G, D)            ``backbone.pos_embed`` (``cls_pos_embed=
                                                  'per_class'``)
    MCTformer+ ``pos_embed_cls`` (1, C, D) and     ``backbone.pos_embed`` = their concatenation
    ``pos_embed_pat`` (1, G*G, D)
    ``patch_embed.proj``, ``blocks.N.*``, ``norm`` ``backbone.patch_embed.projection``,
                                                  ``backbone.layers.N.*``, ``backbone.ln1``
    V2/MCTformer+ ``head`` conv (C, D, 3, 3)      ``cam_head.conv``
    V1 ``head`` grouped Conv1d (C, 1, D)          ``cls_head.weight`` (C, D), ``cls_head.bias``
                                                  (``pool='linear'``)
    ============================================  ==============================================

    Tensors that the authors' forward never reads are left out, logged and reported in
    ``dropped``: MCTformer+'s inherited ``pos_embed`` (1, 1 + 14*14, D), V1's ``nn.Linear``
    ``head`` (class scores are the token means with ``last_opt='average'``), a ``dist_token``
    (its position entry only where the table has one: C + 1 + G*G entries) and any key of no
    known role.

    Args:
        ckpt (dict): ``{'model': state_dict, ...}`` or the state dict itself.
        dropped (list, optional): Receives the source keys left out. Default: None.

    Returns:
        tuple[dict[str, Tensor], dict]: The segmentor state dict and a summary: ``format``,
        ``num_classes`` C, ``embed_dims`` D, ``num_layers``, ``pos_grid`` (G, G),
        ``cam_head`` (bool), ``cls_head_pool`` (``'avg'`` or ``'linear'``).
    """
    src = dict(unwrap_state_dict(ckpt))
    fmt = detect_authors_format(src)
    if fmt is None:
        raise ValueError(f'convert_mctformer: not a checkpoint of the authors\' MCTformer code '
                         f'(expected `blocks.0.attn.qkv.weight` with a (1, C, D) `cls_token`, '
                         f'and `head.weight` (C, D, 3, 3) or `pos_embed_cls`/`pos_embed_pat`); '
                         f'first keys: {list(src)[:6]}')
    token = src['cls_token']
    C, D = token.shape[1], token.shape[2]
    unused = []
    if fmt == 'mctformer-plus':
        if 'pos_embed' in src:
            unused.append(f"pos_embed {tuple(src.pop('pos_embed').shape)}")
        cls_pos, pat_pos = src.pop('pos_embed_cls'), src.pop('pos_embed_pat')
        if cls_pos.shape != (1, C, D) or pat_pos.ndim != 3 or pat_pos.shape[2] != D:
            raise ValueError(f'convert_mctformer: pos_embed_cls {tuple(cls_pos.shape)} and '
                             f'pos_embed_pat {tuple(pat_pos.shape)}, expected (1, {C}, {D}) and '
                             f'(1, G*G, {D})')
        src['pos_embed'] = torch.cat([cls_pos, pat_pos], dim=1)
    heads = {k: src.pop(k) for k in [k for k in src if k.startswith('head.')]}
    used_heads = []
    if 'dist_token' in src and 'pos_embed' in src:
        unused.append(drop_dist_token(src, 'pos_embed', 'dist_token'))
    if 'pos_embed' not in src or src['pos_embed'].shape[1] <= C:
        raise KeyError(f'convert_mctformer: {fmt} checkpoint without a (1, C + G*G, D) position '
                       f'table (C={C})')
    grid = _square_grid_of(src['pos_embed'].shape[1] - C)
    backbone = convert_deit(src, dropped)
    out = OrderedDict((f'backbone.{k}', v) for k, v in backbone.items())
    cls_head_pool = 'avg'
    weight = heads.get('head.weight')
    if fmt in ('mctformer-v2', 'mctformer-plus'):
        if weight is None or weight.ndim != 4 or weight.shape[:2] != (C, D):
            raise ValueError(f'convert_mctformer: {fmt} `head.weight` (the PatchCAM conv) has '
                             f'shape {None if weight is None else tuple(weight.shape)}, expected '
                             f'({C}, {D}, k, k)')
        out['cam_head.conv.weight'] = weight
        out['cam_head.conv.bias'] = heads['head.bias']
        used_heads = ['head.weight', 'head.bias']
    elif weight is not None and weight.ndim == 3:  # V1 last_opt='fc': grouped Conv1d
        if weight.shape != (C, 1, D):
            raise ValueError(f'convert_mctformer: V1 `head.weight` has shape '
                             f'{tuple(weight.shape)}, expected ({C}, 1, {D})')
        out['cls_head.weight'] = weight[:, 0]
        out['cls_head.bias'] = heads['head.bias']
        cls_head_pool = 'linear'
        used_heads = ['head.weight', 'head.bias']
    unused.extend(f'{k} {tuple(v.shape)}' for k, v in heads.items() if k not in used_heads)
    if unused:
        print_log(f'{fmt} converter: left out tensors that the authors\' forward never reads: '
                  f'{unused}', logger='current')
    if dropped is not None:
        dropped.extend(unused)
    num_layers = len({k.split('.')[1] for k in backbone if k.startswith('layers.')})
    info = dict(format=fmt, num_classes=int(C), embed_dims=int(D), num_layers=num_layers,
                pos_grid=grid, cam_head=fmt != 'mctformer-v1', cls_head_pool=cls_head_pool)
    return out, info


def _square_grid_of(num: int) -> Tuple[int, int]:
    g = int(round(num**0.5))
    if g * g != num:
        raise ValueError(f'convert_mctformer: {num} patch position entries do not form a square '
                         'grid')
    return (g, g)
