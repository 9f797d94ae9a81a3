"""DeiT / timm ``VisionTransformer`` (``blocks.N.*``) -> our layout."""
import re
from typing import Dict, Optional

from torch import Tensor

from .layout import drop_dist_token, layers_last, log_dropped, unwrap_state_dict


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
        removed.append(drop_dist_token(src, 'pos_embed', 'dist_token'))
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
    log_dropped('deit', removed, dropped)
    return layers_last(out)
