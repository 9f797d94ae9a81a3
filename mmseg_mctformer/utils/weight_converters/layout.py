"""Our backbone layout: what every converter shares (unwrapping, key order, the report of
dropped keys, the distillation token), the check of a converted state dict and its atomic save.

Target layout::

    cls_token (1, 1, D); pos_embed (1, 1 + G*G, D); patch_embed.projection.{weight,bias}
    layers.i.{ln1, attn.qkv, attn.proj, gamma1, ln2, ffn.layers.0.0, ffn.layers.1, ffn.gamma2}
    ln1 (final LayerNorm)
"""
import os
import re
from collections import OrderedDict
from typing import Dict, Optional

import torch
from mmengine.logging import print_log
from torch import Tensor

from ..io import atomic_output


def log_dropped(src: str, keys, dropped: Optional[list] = None) -> None:
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


def layers_last(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Order keys as our layout: embeddings, layers by index, final norm."""
    def rank(k):
        m = re.match(r'layers\.(\d+)\.', k)
        return (1, int(m.group(1)), k) if m else ((2, 0, k) if k.startswith('ln1') else (0, 0, k))
    return OrderedDict((k, state[k]) for k in sorted(state, key=rank))


def is_square(num: int) -> bool:
    return num >= 0 and int(round(num**0.5))**2 == num


def drop_dist_token(state: Dict[str, Tensor], pos_key: str, dist_key: str,
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
    if is_square(pe.shape[1] - C - 1) and pe.shape[1] > C + 1:
        state[pos_key] = torch.cat([pe[:, :C], pe[:, C + 1:]], dim=1)
        return f'{dist_key} {tuple(token.shape)} and its {pos_key} entry {C}'
    if is_square(pe.shape[1] - C):
        return f'{dist_key} {tuple(token.shape)} (no {pos_key} entry)'
    raise ValueError(f'{dist_key} {tuple(token.shape)} beside {pos_key} {tuple(pe.shape)} and '
                     f'{C} class token(s): the table has neither C + 1 + G*G nor C + G*G '
                     'entries, so the distillation entry cannot be located')


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
