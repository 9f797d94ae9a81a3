"""Multi-class-token Vision Transformer (the encoder of MCTformer / MCTformer+).

The file reads top to bottom: token-layout helpers, the attention kernels and the one function
that picks among them, the output records, the attention module, the encoder layer, then the
backbone and its presets.

Token sequence inside the encoder: ``[C class tokens ; M patch tokens]``, ``N = C + M``,
``M = h * w`` for an input of ``(h * patch) x (w * patch)`` pixels.

State-dict layout (what :mod:`mmseg_mctformer.utils.weight_converters` produces)::

    cls_token                       (1, C, D)   (a checkpoint may hold 1 token, see below)
    pos_embed                       (1, P + G_h * G_w, D)  [class-token entries ; patch grid],
                                    P = 1 (``cls_pos_embed='shared'``) or C (``'per_class'``)
    patch_embed.projection.{weight,bias}
    layers.i.ln1 / layers.i.attn.qkv / layers.i.attn.proj / layers.i.gamma1.weight (LayerScale)
    layers.i.ln2 / layers.i.ffn.layers.0.0 / layers.i.ffn.layers.1 / layers.i.ffn.gamma2.weight
    ln1                             final LayerNorm
"""
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import LayerScale
from mmcv.cnn.bricks.drop import build_dropout
from mmcv.cnn.bricks.transformer import FFN, PatchEmbed
from mmengine.logging import MMLogger
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.utils import resize_pos_embed
from mmseg.registry import MODELS
from torch import Tensor

from ...utils.checkpoint import check_checkpoint_file
from ..utils.drop_path import LeanDropPath

CLS_TOKEN_INITS = ('pretrained', 'trunc_normal')
CLS_POS_EMBEDS = ('shared', 'per_class')
POS_RESIZE_MODES = ('bicubic', 'nearest')
POS_INTERPS = ('size', 'scale_factor_offset')
#: The attention a forward returns besides its tokens (``attn_path``; None: none):
#: ``'sdpa'``: per-head queries and keys and the class-token rows, the output computed by
#: ``F.scaled_dot_product_attention`` (memory linear in the tokens); ``'explicit'``: every block's
#: head-averaged (N, N) softmax attention, built explicitly (memory quadratic in the tokens).
ATTN_PATHS = ('sdpa', 'explicit')
#: The kernels one attention call can run (:func:`attention_kernel` picks one).
ATTN_KERNELS = ('sdpa', 'explicit', 'explicit_float32')
#: What one attention call returns besides its output: (B, N, N) weights or ``(q, k)``.
AttnReturn = Union[Tensor, Tuple[Tensor, Tensor]]
#: Up to this many tokens, a bfloat16 attention on a CPU (``torch.autocast``, ``--amp``) runs as an
#: explicit softmax in float32 instead of ``F.scaled_dot_product_attention``, whose CPU flash kernel
#: is slow in bfloat16 for short sequences; above it the scaled-dot-product kernel is the faster one
#: (``benchmarks/bench_attention_paths.py``, numbers in ``docs/en/benchmarks.md``).
CPU_BF16_EXPLICIT_MAX_TOKENS = 216


def tokens_to_map(x: Tensor, num_prefix: int, hw: Tuple[int, int]) -> Tensor:
    """Patch tokens of a ``[prefix ; patches]`` sequence as a feature map.

    Args:
        x (Tensor): Tokens (B, N, D) with ``N == num_prefix + h * w``.
        num_prefix (int): Number of leading (class) tokens C.
        hw (tuple[int, int]): Token grid (h, w).

    Returns:
        Tensor: Patch tokens (B, D, h, w).
    """
    B, N, D = x.shape
    h, w = hw
    assert N == num_prefix + h * w, (
        f'tokens_to_map: sequence length N={N} != C + h*w with C={num_prefix} class tokens and '
        f'h*w={h}*{w}={h * w} patch tokens')
    return x[:, num_prefix:].transpose(1, 2).reshape(B, D, h, w)


def attention_kernel(q: Tensor, attn_path: Optional[str] = None) -> str:
    """The kernel that one attention call runs; the only place where it is chosen.

    - ``'explicit'``: ``attn_path='explicit'``: ``softmax(q k^T * scale)`` in ``q``'s dtype, the
      (B, H, N, N) weights kept and returned head-averaged.
    - ``'explicit_float32'``: no weights asked for, ``q`` bfloat16 on a CPU and
      ``N <= CPU_BF16_EXPLICIT_MAX_TOKENS``: :func:`explicit_attention` (float32 softmax), faster
      there than the scaled-dot-product kernel.
    - ``'sdpa'``: otherwise, ``F.scaled_dot_product_attention`` (no N x N matrix).

    Args:
        q (Tensor): Queries (B, H, N, D / H).
        attn_path (str, optional): What the caller returns (:data:`ATTN_PATHS`, or None).
            Default: None.

    Returns:
        str: One of :data:`ATTN_KERNELS`.
    """
    if attn_path is not None and attn_path not in ATTN_PATHS:
        raise ValueError(f'attention_kernel: unknown attn_path {attn_path!r}, expected None or '
                         f'one of {ATTN_PATHS}')
    if attn_path == 'explicit':
        return 'explicit'
    if (q.device.type == 'cpu' and q.dtype == torch.bfloat16
            and q.shape[-2] <= CPU_BF16_EXPLICIT_MAX_TOKENS):
        return 'explicit_float32'
    return 'sdpa'


def explicit_attention(q: Tensor, k: Tensor, v: Tensor, scale: float) -> Tensor:
    """``softmax(q k^T * scale) v`` computed in float32 (autocast off), output in ``v``'s dtype.

    The logits stay float32 as inside the scaled-dot-product kernel: rounded to bfloat16 (8 bits
    of mantissa) a logit of 10 would move by up to 0.03, its probability by ~3 %.

    Args:
        q, k, v (Tensor): (B, H, N, D / H) each.
        scale (float): The logit scale, ``(D / H) ** -0.5``.

    Returns:
        Tensor: (B, H, N, D / H).
    """
    with torch.autocast(device_type=q.device.type, enabled=False):
        attn = ((q.float() * scale) @ k.float().transpose(-2, -1)).softmax(dim=-1)
        return (attn @ v.float()).to(v.dtype)


@dataclass(frozen=True)
class BlockAttention:
    """The attention of every block, as the backbone's ``attn_path`` returns it.

    L blocks, C class tokens, N = C + M tokens, H heads, E = D / H.

    Attributes:
        path (str): ``'explicit'`` or ``'sdpa'`` (:data:`ATTN_PATHS`): which fields are set.
        cls_rows (list[Tensor]): L tensors (B, C, N), the class-token rows of the head-averaged
            softmax attention (both paths).
        weights (list[Tensor] | None): L tensors (B, N, N), the head-averaged softmax attention
            (``'explicit'``); None for ``'sdpa'``.
        q (list[Tensor] | None): L tensors (B, H, N, E), the unscaled per-head queries
            (``'sdpa'``); None for ``'explicit'``.
        k (list[Tensor] | None): L tensors (B, H, N, E), the per-head keys (``'sdpa'``); None
            for ``'explicit'``.
    """

    path: str
    cls_rows: List[Tensor]
    weights: Optional[List[Tensor]] = None
    q: Optional[List[Tensor]] = None
    k: Optional[List[Tensor]] = None

    def __post_init__(self):
        if self.path not in ATTN_PATHS:
            raise ValueError(f'BlockAttention: unknown path {self.path!r}, expected one of '
                             f'{ATTN_PATHS}')
        explicit = self.path == 'explicit'
        if explicit != (self.weights is not None) or explicit == (self.q is not None
                                                                 and self.k is not None):
            raise ValueError(f"BlockAttention: path {self.path!r} holds "
                             f"{'weights' if explicit else 'q and k'} only")

    @classmethod
    def explicit(cls, weights: Sequence[Tensor], num_classes: int) -> 'BlockAttention':
        """Record of the explicit path from L head-averaged attentions (B, N, N)."""
        weights = list(weights)
        return cls('explicit', [w[:, :num_classes] for w in weights], weights=weights)

    @classmethod
    def sdpa(cls, cls_rows: Sequence[Tensor], q: Sequence[Tensor],
             k: Sequence[Tensor]) -> 'BlockAttention':
        """Record of the scaled-dot-product path from L class-token rows (B, C, N), queries and
        keys (B, H, N, E)."""
        return cls('sdpa', list(cls_rows), q=list(q), k=list(k))


@dataclass(frozen=True)
class MCTViTOutput:
    """What :class:`MultiClassTokenViT` returns (L blocks, C class tokens, h x w patch grid).

    Attributes:
        cls_tokens (list[Tensor]): L tensors (B, C, D), the class tokens after every block.
        cls_token (Tensor): (B, C, D), the final class tokens (``cls_tokens[-1]``).
        patch_tokens (Tensor): (B, D, h, w), the final patch tokens.
        feature_maps (tuple[Tensor]): (B, D, h, w) each, the patch tokens of the blocks of
            ``out_indices`` in that order; empty without ``out_indices``.
        attention (BlockAttention | None): The attention of every block when the forward asked
            for it (``attn_path``); None otherwise.
    """

    cls_tokens: List[Tensor]
    cls_token: Tensor
    patch_tokens: Tensor
    feature_maps: Tuple[Tensor, ...] = ()
    attention: Optional[BlockAttention] = None


class MultiClassTokenAttention(BaseModule):
    """Multi-head self-attention whose kernels share one set of weights.

    :func:`attention_kernel` picks the kernel of each call: ``F.scaled_dot_product_attention``
    (``'sdpa'``, no attention matrix; training, and the localisation maps with
    ``attn_path='sdpa'``, which returns q and k), the explicit softmax that returns the
    head-averaged attention (B, N, N) (``attn_path='explicit'``), or, in bfloat16 on a CPU with at
    most :data:`CPU_BF16_EXPLICIT_MAX_TOKENS` tokens, the same attention computed explicitly in
    float32 (:func:`explicit_attention`), which is faster there (the (B, H, N, N) matrix is small).

    Args:
        embed_dims (int): Token dimension D.
        num_heads (int): Number of heads H.
        qkv_bias (bool): Bias in the q/k/v projection. Default: True.
        proj_drop (float): Dropout after the output projection. Default: 0.
        init_cfg (dict, optional): Initialisation config. Default: None.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 proj_drop: float = 0.,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'MultiClassTokenAttention: embed_dims={embed_dims} is not '
                             f'divisible by num_heads={num_heads}')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.scale = self.head_dims**-0.5
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor,
                attn_path: Optional[str] = None) -> Tuple[Tensor, Optional[AttnReturn]]:
        """Attend.

        Args:
            x (Tensor): Tokens (B, N, D).
            attn_path (str, optional): The attention returned besides the output
                (:data:`ATTN_PATHS`): ``'explicit'``: the head-averaged softmax attention;
                ``'sdpa'``: the per-head queries and keys, from which any rows of the attention
                are recomputed without the N x N matrix; None: nothing. Default: None.

        Returns:
            tuple[Tensor, Tensor | tuple | None]: Output (B, N, D) and, with ``'explicit'``, the
            attention (B, N, N); with ``'sdpa'``, ``(q, k)``, each (B, H, N, D / H) (unscaled:
            the attention is ``softmax(q k^T * scale)``, ``scale = (D / H) ** -0.5``); else
            ``None``.
        """
        B, N, D = x.shape
        # (3, B, H, N, D / H)
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        kernel = attention_kernel(q, attn_path)
        attn = None
        if kernel == 'explicit':
            attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # (B, H, N, N)
            out = attn @ v
            attn = attn.mean(dim=1)
        elif kernel == 'explicit_float32':
            out = explicit_attention(q, k, v, self.scale)
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        if attn_path == 'sdpa':
            attn = (q, k)
        out = out.transpose(1, 2).reshape(B, N, D)
        return self.proj_drop(self.proj(out)), attn


class MultiClassTokenEncoderLayer(BaseModule):
    """Pre-norm ViT block: ``x + DropPath(LS1(MHA(LN1(x))))``, ``x + DropPath(LS2(MLP(LN2(x))))``.

    Args:
        embed_dims (int): Token dimension D.
        num_heads (int): Number of heads.
        feedforward_channels (int): Hidden width of the MLP.
        layer_scale_init_value (float): Initial LayerScale value; 0 disables LayerScale.
            Default: 0.
        drop_rate (float): Dropout after the attention projection and in the MLP. Default: 0.
        drop_path_rate (float): Stochastic-depth rate of this block. Default: 0.
        qkv_bias (bool): Bias in the q/k/v projection. Default: True.
        norm_eps (float): LayerNorm epsilon. Default: 1e-6.
        init_cfg (dict, optional): Initialisation config. Default: None.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 layer_scale_init_value: float = 0.,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 qkv_bias: bool = True,
                 norm_eps: float = 1e-6,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        drop_path_cfg = dict(type=LeanDropPath, drop_prob=drop_path_rate)
        self.ln1 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.attn = MultiClassTokenAttention(
            embed_dims, num_heads, qkv_bias=qkv_bias, proj_drop=drop_rate)
        self.gamma1 = (LayerScale(embed_dims, scale=layer_scale_init_value)
                       if layer_scale_init_value > 0 else nn.Identity())
        self.drop_path = build_dropout(drop_path_cfg)
        self.ln2 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=feedforward_channels,
            num_fcs=2,
            act_cfg=dict(type='GELU'),
            ffn_drop=drop_rate,
            dropout_layer=drop_path_cfg,
            layer_scale_init_value=layer_scale_init_value)

    def forward(self, x: Tensor,
                attn_path: Optional[str] = None) -> Tuple[Tensor, Optional[AttnReturn]]:
        """Run the block.

        Args:
            x (Tensor): Tokens (B, N, D).
            attn_path (str, optional): See :meth:`MultiClassTokenAttention.forward`.
                Default: None.

        Returns:
            tuple[Tensor, Tensor | tuple | None]: Tokens (B, N, D) and the attention (B, N, N),
            ``(q, k)`` or ``None``.
        """
        y, attn = self.attn(self.ln1(x), attn_path=attn_path)
        x = x + self.drop_path(self.gamma1(y))
        x = self.ffn(self.ln2(x), identity=x)
        return x, attn


@MODELS.register_module()
class MultiClassTokenViT(BaseModule):
    """Vision Transformer with one class token per foreground class.

    "MCTformer+: Multi-Class Token Transformer for Weakly Supervised Semantic Segmentation"
    (Xu et al., TPAMI 2024, https://arxiv.org/abs/2308.03005), extending "Multi-class Token
    Transformer for Weakly Supervised Semantic Segmentation" (CVPR 2022,
    https://arxiv.org/abs/2203.02891).

    The single class token of a ViT is replaced by C class tokens (C, D); they share one class-token
    position entry (``cls_pos_embed='shared'``) or have one each (``'per_class'``, the authors'
    code); the patch position embeddings live on a learnable grid (``img_size // patch``, e.g.
    28 x 28 at 448 px) that is resized (bicubic) for any other input of
    ``(h * patch) x (w * patch)`` pixels (h != w allowed).

    ``forward(x, attn_path=None)`` returns an :class:`MCTViTOutput`: the class tokens of every
    block (L x (B, C, D)), the final class tokens (B, C, D) and patch tokens (B, D, h, w), the
    patch tokens of the ``out_indices`` blocks, and, when ``attn_path`` asks for it, a
    :class:`BlockAttention`: with ``'explicit'`` every block's head-averaged softmax attention
    (B, C + M, C + M); with ``'sdpa'`` (memory linear in M) its class-token rows (B, C, C + M) and
    the per-head queries and keys (B, H, C + M, D / H), from which the patch affinity is applied
    without building the (C + M) x (C + M) matrix.

    Loading: a ``load_state_dict`` pre-hook maps a checkpoint's single class token onto the C
    tokens (``cls_token_init='pretrained'``; with ``'trunc_normal'`` the random tokens are kept),
    copies a single class position entry to the C entries (``cls_pos_embed='per_class'``),
    resizes a position-embedding grid of another size (``pos_load_resize``), accepts the authors'
    ``(1, C + G*G, D)`` tables, and raises on any other shape mismatch, so
    checkpoints converted by :mod:`mmseg_mctformer.utils.weight_converters` load with plain
    ``load_state_dict`` or ``init_cfg=dict(type='Pretrained', checkpoint=PATH)``.

    Args:
        arch (str | dict): A preset name (see :attr:`arch_zoo`: ``'deit-tiny'``, ``'deit-small'``,
            ``'deit-base'``, ``'dinov2-small'``, ``'dinov2-base'``, ``'dinov2-large'`` and short
            aliases such as ``'deit-s'``), or a dict with ``embed_dims``, ``num_layers``,
            ``num_heads``, ``feedforward_channels`` and optionally ``patch_size`` (16),
            ``layer_scale`` (initial LayerScale value, 0 = none), ``norm_eps`` (1e-6) and
            ``pos_grid`` (int or (h, w); default ``img_size // patch_size``).
            Default: 'deit-small'.
        num_classes (int): Number of class tokens C (foreground classes). Default: 20.
        img_size (int | tuple[int, int]): Pretraining input size; sets the position-embedding grid
            (``img_size // patch_size``) of archs without a fixed ``pos_grid`` (DeiT). The DINOv2
            presets keep their 37 x 37 grid. Any input size is accepted at run time. Default: 224.
        in_channels (int): Input channels. Default: 3.
        drop_rate (float): Dropout after the position embedding, the attention projection and in
            the MLP. Default: 0.
        drop_path_rate (float): Stochastic-depth rate of the last block (linear from 0).
            Default: 0.1.
        qkv_bias (bool): Bias in the q/k/v projections. Default: True.
        cls_token_init (str): ``'pretrained'``: the C class tokens start as copies of a
            checkpoint's single class token (paper and reference code, which repeats the DeiT
            token C times); ``'trunc_normal'``: a single-token checkpoint class token is ignored
            and the truncated-normal initialisation kept (an ablation). Default: 'pretrained'.
        final_norm (bool): Apply the final LayerNorm ``ln1`` to the outputs. The reference code
            does not (the module exists either way). Default: False.
        cls_pos_embed (str): ``'shared'``: one class-token position entry added to all C class
            tokens (the paper's wording); ``'per_class'``: C learnable entries, one per class
            token, each starting as a copy of a single-entry checkpoint's class entry (the
            authors' V1/V2 and MCTformer+ code). Default: 'shared'.
        pos_load_resize (str): How a checkpoint's patch grid of another size is resized on
            loading: ``'bicubic'``, or ``'nearest'`` (for 28 x 28 from 14 x 14: each entry
            repeated 2 x 2, the authors' MCTformer+ code). Default: 'bicubic'.
        pos_interp (str): How the learnable grid is resized (bicubic) at run time for an input
            of another token grid: ``'size'`` (to the target size h x w; the same sampling as the
            authors' MCTformer+ code, ``scale_factor = h / G``) or ``'scale_factor_offset'``
            (``scale_factor = (h + 0.1) / G``, DINO's trick used by the authors' V1/V2 code,
            which samples slightly different positions). Default: 'size'.
        out_indices (Sequence[int], optional): Blocks (0-based, negative from the end) whose patch
            tokens are also returned as ``feature_maps`` (for a dense head that concatenates
            several layers, e.g. ``(-4, -3, -2, -1)``). Default: None (only the last block).
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH)`` loads a checkpoint
            in this layout. Default: None.
    """

    arch_zoo = {
        **dict.fromkeys(['deit-t', 'deit-tiny'], dict(
            embed_dims=192, num_layers=12, num_heads=3, feedforward_channels=768,
            patch_size=16, layer_scale=0., norm_eps=1e-6, pos_grid=None)),
        **dict.fromkeys(['deit-s', 'deit-small'], dict(
            embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536,
            patch_size=16, layer_scale=0., norm_eps=1e-6, pos_grid=None)),
        **dict.fromkeys(['deit-b', 'deit-base'], dict(
            embed_dims=768, num_layers=12, num_heads=12, feedforward_channels=3072,
            patch_size=16, layer_scale=0., norm_eps=1e-6, pos_grid=None)),
        **dict.fromkeys(['dinov2-s', 'dinov2-small'], dict(
            embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536,
            patch_size=14, layer_scale=1e-5, norm_eps=1e-6, pos_grid=37)),
        **dict.fromkeys(['dinov2-b', 'dinov2-base'], dict(
            embed_dims=768, num_layers=12, num_heads=12, feedforward_channels=3072,
            patch_size=14, layer_scale=1e-5, norm_eps=1e-6, pos_grid=37)),
        **dict.fromkeys(['dinov2-l', 'dinov2-large'], dict(
            embed_dims=1024, num_layers=24, num_heads=16, feedforward_channels=4096,
            patch_size=14, layer_scale=1e-5, norm_eps=1e-6, pos_grid=37)),
    }
    ARCH_REQUIRED_KEYS = ('embed_dims', 'num_layers', 'num_heads', 'feedforward_channels')
    ARCH_DEFAULTS = dict(patch_size=16, layer_scale=0., norm_eps=1e-6, pos_grid=None)

    def __init__(self,
                 arch: Union[str, dict] = 'deit-small',
                 num_classes: int = 20,
                 img_size: Union[int, Sequence[int]] = 224,
                 in_channels: int = 3,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 qkv_bias: bool = True,
                 cls_token_init: str = 'pretrained',
                 final_norm: bool = False,
                 cls_pos_embed: str = 'shared',
                 pos_load_resize: str = 'bicubic',
                 pos_interp: str = 'size',
                 out_indices: Optional[Sequence[int]] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = self._parse_arch(arch)
        for arg, value, allowed in (('cls_pos_embed', cls_pos_embed, CLS_POS_EMBEDS),
                                    ('pos_load_resize', pos_load_resize, POS_RESIZE_MODES),
                                    ('pos_interp', pos_interp, POS_INTERPS)):
            if value not in allowed:
                raise ValueError(f'MultiClassTokenViT: unknown {arg} {value!r}, expected one of '
                                 f'{allowed}')
        self.cls_pos_embed = cls_pos_embed
        self.pos_load_resize = pos_load_resize
        self.pos_interp = pos_interp
        if num_classes < 1:
            raise ValueError(f'MultiClassTokenViT: num_classes must be >= 1, got {num_classes}')
        if cls_token_init not in CLS_TOKEN_INITS:
            raise ValueError(f'MultiClassTokenViT: unknown cls_token_init {cls_token_init!r}, '
                             f'expected one of {CLS_TOKEN_INITS}')
        s = self.arch_settings
        self.num_classes = num_classes
        self.embed_dims = s['embed_dims']
        self.num_layers = s['num_layers']
        self.out_indices = None
        if out_indices is not None:
            resolved = [i + self.num_layers if i < 0 else i for i in out_indices]
            if not resolved or any(not 0 <= i < self.num_layers for i in resolved):
                raise ValueError(f'MultiClassTokenViT: out_indices {tuple(out_indices)} must be '
                                 f'block indices in [-{self.num_layers}, {self.num_layers})')
            self.out_indices = tuple(resolved)
        self.patch_size = s['patch_size']
        self.cls_token_init = cls_token_init
        self.final_norm = final_norm

        img_hw = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        grid = s['pos_grid']
        if grid is None:
            grid = (img_hw[0] // self.patch_size, img_hw[1] // self.patch_size)
        elif isinstance(grid, int):
            grid = (grid, grid)
        self.pos_grid = tuple(grid)

        self.patch_embed = PatchEmbed(
            in_channels=in_channels,
            embed_dims=self.embed_dims,
            conv_type='Conv2d',
            kernel_size=self.patch_size,
            stride=self.patch_size,
            padding=0)
        # C class tokens; P class-token position entries (1 shared, or one per class token).
        self.num_cls_pos = num_classes if cls_pos_embed == 'per_class' else 1
        self.cls_token = nn.Parameter(torch.zeros(1, num_classes, self.embed_dims))
        self.pos_embed = nn.Parameter(torch.zeros(
            1, self.num_cls_pos + self.pos_grid[0] * self.pos_grid[1], self.embed_dims))
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        dpr = np.linspace(0, drop_path_rate, self.num_layers)
        self.layers = ModuleList([
            MultiClassTokenEncoderLayer(
                embed_dims=self.embed_dims,
                num_heads=s['num_heads'],
                feedforward_channels=s['feedforward_channels'],
                layer_scale_init_value=s['layer_scale'],
                drop_rate=drop_rate,
                drop_path_rate=float(dpr[i]),
                qkv_bias=qkv_bias,
                norm_eps=s['norm_eps']) for i in range(self.num_layers)
        ])
        self.ln1 = nn.LayerNorm(self.embed_dims, eps=s['norm_eps'])
        if not final_norm:
            # kept so that checkpoints load and tools can apply it; frozen because the outputs do
            # not use it (DDP rejects trainable parameters without gradients)
            self.ln1.requires_grad_(False)

        trunc_normal_(self.cls_token, std=0.02)
        trunc_normal_(self.pos_embed, std=0.02)
        self._register_load_state_dict_pre_hook(self._prepare_checkpoint)

    @property
    def num_extra_tokens(self) -> int:
        """int: Tokens before the patch tokens (the C class tokens)."""
        return self.num_classes

    @classmethod
    def _parse_arch(cls, arch: Union[str, dict]) -> dict:
        if isinstance(arch, str):
            key = arch.lower()
            if key not in cls.arch_zoo:
                raise ValueError(f'MultiClassTokenViT: unknown arch {arch!r}, expected one of '
                                 f'{sorted(cls.arch_zoo)} or a dict')
            return dict(cls.arch_zoo[key])
        if not isinstance(arch, dict):
            raise TypeError(f'MultiClassTokenViT: arch must be a str or dict, got {type(arch)}')
        missing = [k for k in cls.ARCH_REQUIRED_KEYS if k not in arch]
        unknown = set(arch) - set(cls.ARCH_REQUIRED_KEYS) - set(cls.ARCH_DEFAULTS)
        if missing or unknown:
            raise ValueError(f'MultiClassTokenViT: arch dict keys {sorted(arch)}: missing '
                             f'{missing}, unknown {sorted(unknown)}; required '
                             f'{list(cls.ARCH_REQUIRED_KEYS)}, optional {list(cls.ARCH_DEFAULTS)}')
        return {**cls.ARCH_DEFAULTS, **arch}

    #: Least fraction of the backbone's keys a ``Pretrained`` checkpoint must provide.
    PRETRAINED_MIN_MATCH = 0.9

    def init_weights(self):
        """Truncated-normal init (std 0.02) of tokens and linear layers, unless pretrained."""
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            # mmengine loads with strict=False: a checkpoint of another architecture would leave
            # the random weights in place without an error
            check_checkpoint_file(self, self.init_cfg['checkpoint'],
                                  min_ratio=self.PRETRAINED_MIN_MATCH,
                                  prefix=self.init_cfg.get('prefix'), what='the backbone')
            super().init_weights()
            return
        super().init_weights()
        trunc_normal_(self.cls_token, std=0.02)
        trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    # ----------------------------------------------------------------------------------------
    # Loading
    # ----------------------------------------------------------------------------------------
    def _prepare_checkpoint(self, state_dict, prefix, *args, **kwargs):
        """Fit a checkpoint's class token(s) and position grid; reject other shape mismatches."""
        logger = MMLogger.get_current_instance()
        C, D = self.num_classes, self.embed_dims
        name = prefix + 'cls_token'
        if name in state_dict:
            t = state_dict[name]
            if t.ndim != 3 or t.shape[0] != 1 or t.shape[2] != D or t.shape[1] not in (1, C):
                wanted = f'(1, 1, {D})' + ('' if C == 1 else f' or (1, {C}, {D})')
                raise ValueError(f'MultiClassTokenViT: checkpoint key {name!r} has shape '
                                 f'{tuple(t.shape)}, expected {wanted}')
            if t.shape[1] != C:
                if self.cls_token_init == 'pretrained':
                    state_dict[name] = t.expand(1, C, D).clone()
                    logger.info(f'MultiClassTokenViT: copied the checkpoint class token to the '
                                f'{C} class tokens')
                else:
                    state_dict[name] = self.cls_token.detach().clone()
                    logger.info('MultiClassTokenViT: kept the truncated-normal class tokens '
                                '(cls_token_init=trunc_normal), ignoring the checkpoint token')
        name = prefix + 'pos_embed'
        if name in state_dict:
            state_dict[name] = self._fit_pos_embed(state_dict[name], name, logger)
        own = dict(self.named_parameters())
        own.update(self.named_buffers())
        for key, value in own.items():
            ck = state_dict.get(prefix + key)
            if isinstance(ck, Tensor) and ck.shape != value.shape:
                raise ValueError(f'MultiClassTokenViT: checkpoint key {prefix + key!r} has shape '
                                 f'{tuple(ck.shape)}, the model expects {tuple(value.shape)}')

    def _fit_pos_embed(self, pe: Tensor, name: str, logger) -> Tensor:
        """A checkpoint's position table (1, 1 or C + G*G, D) as ours (1, P + G_h*G_w, D)."""
        P, C, D = self.num_cls_pos, self.num_classes, self.embed_dims
        if pe.shape == self.pos_embed.shape:
            src_extra, src_grid = P, self.pos_grid
        else:
            src_extra, src_grid = None, None
            for extra in dict.fromkeys((P, 1, C)):
                if pe.ndim == 3 and _square_grid(pe.shape[1] - extra) is not None:
                    src_extra, src_grid = extra, _square_grid(pe.shape[1] - extra)
                    break
        if (pe.ndim != 3 or pe.shape[0] != 1 or pe.shape[2] != D or src_grid is None
                or src_extra not in (1, P)):
            raise ValueError(f'MultiClassTokenViT: checkpoint key {name!r} has shape '
                             f'{tuple(pe.shape)}, expected (1, E + G*G, {D}) with E = 1 or '
                             f'E = {P} class-token entries (cls_pos_embed={self.cls_pos_embed!r})')
        if src_grid != self.pos_grid:
            logger.info(f'MultiClassTokenViT: resized {name} grid {src_grid} -> {self.pos_grid} '
                        f'({self.pos_load_resize})')
            if self.pos_load_resize == 'bicubic':
                pe = resize_pos_embed(pe, src_grid, self.pos_grid, 'bicubic', src_extra)
            else:  # nearest: an integer upscale repeats every entry (2 x 2 for 14 -> 28)
                grid = pe[:, src_extra:].reshape(1, *src_grid, D).permute(0, 3, 1, 2)
                grid = F.interpolate(grid.float(), size=self.pos_grid, mode='nearest')
                pe = torch.cat([pe[:, :src_extra],
                                grid.to(pe.dtype).flatten(2).transpose(1, 2)], dim=1)
        if src_extra != P:
            logger.info(f'MultiClassTokenViT: copied the checkpoint class-token position entry '
                        f'to the {P} class-token entries')
            pe = torch.cat([pe[:, :1].expand(1, P, D), pe[:, 1:]], dim=1).clone()
        return pe

    # ----------------------------------------------------------------------------------------
    # Forward
    # ----------------------------------------------------------------------------------------
    def interpolate_pos_embed(self, hw: Tuple[int, int]) -> Tensor:
        """Position embeddings for a token grid.

        Args:
            hw (tuple[int, int]): Token grid (h, w).

        Returns:
            Tensor: (1, P + h * w, D): the P class-token entries, then the grid, resized
            bicubically when ``hw`` differs from ``pos_grid`` (see ``pos_interp``).
        """
        hw = tuple(hw)
        P = self.num_cls_pos
        if hw == self.pos_grid:
            return self.pos_embed
        if self.pos_interp == 'size':
            return resize_pos_embed(self.pos_embed, self.pos_grid, hw, 'bicubic', P)
        offset = 0.1  # scale_factor_offset
        (gh, gw), D = self.pos_grid, self.embed_dims
        grid = self.pos_embed[:, P:].reshape(1, gh, gw, D).permute(0, 3, 1, 2)
        grid = F.interpolate(grid.float(), scale_factor=((hw[0] + offset) / gh,
                                                         (hw[1] + offset) / gw), mode='bicubic')
        if tuple(grid.shape[-2:]) != hw:
            raise ValueError(f'MultiClassTokenViT.interpolate_pos_embed: pos_interp='
                             f'{self.pos_interp!r} gave a grid {tuple(grid.shape[-2:])} for the '
                             f'token grid {hw}')
        grid = grid.to(self.pos_embed.dtype).flatten(2).transpose(1, 2)
        return torch.cat([self.pos_embed[:, :P], grid], dim=1)

    def forward(self, x: Tensor, attn_path: Optional[str] = None) -> MCTViTOutput:
        """Encode an image batch.

        Args:
            x (Tensor): Images (B, in_channels, H, W), H and W multiples of the patch size.
            attn_path (str, optional): The attention returned in ``attention``
                (:data:`ATTN_PATHS`): ``'explicit'``: every block's head-averaged attention;
                ``'sdpa'``: every block's class-token attention rows and per-head queries / keys
                (memory linear in the tokens; what
                :func:`~mmseg_mctformer.models.utils.refine_with_attention_affinity` needs);
                None: none (training). Default: None.

        Returns:
            MCTViTOutput: Tokens (see :class:`MCTViTOutput` for the shapes), ``feature_maps``
            with ``out_indices``, ``attention`` with ``attn_path``.
        """
        if attn_path is not None and attn_path not in ATTN_PATHS:
            raise ValueError(f'MultiClassTokenViT: unknown attn_path {attn_path!r}, expected '
                             f'None or one of {ATTN_PATHS}')
        B, _, H, W = x.shape
        p = self.patch_size
        if H % p or W % p:
            raise ValueError(f'MultiClassTokenViT: input size {H}x{W} is not divisible by the '
                             f'patch size {p}')
        C = self.num_classes
        patches, hw = self.patch_embed(x)  # (B, M, D)
        P = self.num_cls_pos
        pos = self.interpolate_pos_embed(hw)  # (1, P + M, D)
        cls = (self.cls_token + pos[:, :P]).expand(B, -1, -1)  # (B, C, D)
        x = self.drop_after_pos(torch.cat([cls, patches + pos[:, P:]], dim=1))  # (B, C + M, D)

        cls_tokens, attns, cls_attns, qs, ks = [], [], [], [], []
        feature_maps = {}
        for i, layer in enumerate(self.layers):
            x, attn = layer(x, attn_path=attn_path)
            if self.final_norm and i == self.num_layers - 1:
                x = self.ln1(x)
            cls_tokens.append(x[:, :C])
            if self.out_indices is not None and i in self.out_indices:
                feature_maps[i] = tokens_to_map(x, C, hw)
            if attn_path == 'explicit':
                attns.append(attn)
            elif attn_path == 'sdpa':
                q, k = attn
                cls_attns.append(class_token_attention(q, k, C, layer.attn.scale))
                qs.append(q)
                ks.append(k)
        attention = None
        if attn_path == 'explicit':
            attention = BlockAttention.explicit(attns, C)
        elif attn_path == 'sdpa':
            attention = BlockAttention.sdpa(cls_attns, qs, ks)
        return MCTViTOutput(
            cls_tokens=cls_tokens,
            cls_token=cls_tokens[-1],
            patch_tokens=tokens_to_map(x, C, hw),
            feature_maps=(tuple(feature_maps[i] for i in self.out_indices)
                          if self.out_indices is not None else ()),
            attention=attention)


def class_token_attention(q: Tensor, k: Tensor, num_classes: int, scale: float) -> Tensor:
    """The first C rows of the head-averaged softmax attention, from queries and keys.

    Args:
        q (Tensor): Queries (B, H, N, D / H), unscaled.
        k (Tensor): Keys (B, H, N, D / H).
        num_classes (int): Number of class tokens C (the first C tokens).
        scale (float): Attention scale, ``(D / H) ** -0.5``.

    Returns:
        Tensor: ``mean_h softmax(q[:, h, :C] k[:, h]^T * scale)`` of shape (B, C, N).
    """
    # k is a strided view into the qkv projection: made contiguous, the transposed operand goes
    # to the matrix product without a transposing gather
    rows = (q[:, :, :num_classes] * scale) @ k.contiguous().transpose(-2, -1)  # (B, H, C, N)
    return rows.softmax(dim=-1).mean(dim=1)


def _square_grid(num_tokens: int) -> Optional[Tuple[int, int]]:
    """(G, G) if ``num_tokens == G * G``, else None."""
    g = math.isqrt(max(num_tokens, 0))
    return (g, g) if g > 0 and g * g == num_tokens else None
