"""mmpretrain ``VisionTransformer`` (``layers.N.*``) <-> our layout."""
import re
from typing import Dict, Optional

from torch import Tensor

from .layout import drop_dist_token, layers_last, log_dropped, unwrap_state_dict


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
        removed.append(drop_dist_token(src, 'pos_embed', 'dist_token'))
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
    log_dropped('mmpretrain', removed, dropped)
    return layers_last(out)


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
