"""Recognise a checkpoint's layout and convert it with the converter of its source."""
import re
from typing import Dict, Optional

from torch import Tensor

from .authors import AUTHORS_FORMATS, convert_mctformer, detect_authors_format
from .deit import convert_deit
from .dinov2 import convert_hf_dinov2, convert_onnx
from .layout import check_layout, unwrap_state_dict
from .mmpretrain import convert_mmpretrain
from .safe_load import load_source

SRC_FORMATS = ('deit', 'mmpretrain', 'hf-dinov2', 'onnx') + AUTHORS_FORMATS


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
