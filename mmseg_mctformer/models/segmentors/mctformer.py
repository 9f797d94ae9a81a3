"""MCTformer / MCTformer+ segmentor: image-level training, class localisation maps as output."""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import OptConfigType, OptMultiConfig, OptSampleList, SampleList
from torch import Tensor

from ...utils.compat import register_load_state_dict_pre_hook
from ..backbones.mct_vit import MCTViTOutput
from ..heads.localization_head import MCTLocalizationHead
from ..heads.localization_test_cfg import parse_test_cfg
from ..utils.localization import map_needs_attention
from .test_time_views import ScaleFlipViews

#: Prefixes of checkpoints that hold the heads at the top level (the weight converters' layout),
#: mapped onto ``decode_head`` when loading.
LEGACY_KEY_PREFIXES = {'cls_head.': 'decode_head.cls_head.', 'cam_head.': 'decode_head.cam_head.'}


@MODELS.register_module()
class MCTformer(BaseSegmentor):
    """Multi-class-token transformer for weakly supervised semantic segmentation.

    "Multi-class Token Transformer for Weakly Supervised Semantic Segmentation" (Xu et al.,
    CVPR 2022, https://arxiv.org/abs/2203.02891) and "MCTformer+: Multi-Class Token Transformer
    for Weakly Supervised Semantic Segmentation" (TPAMI). MCTformer-V2 (``cam_head.pool='gap'``,
    ``cct_loss=None``) and MCTformer+ (``cam_head.pool='gwrp'``, ``cct_loss=dict(...)``) differ
    only in config.

    ``loss(): extract_feat() -> decode_head.loss() (cls_head / cam_head) + cct_loss``
    ``predict(): per group of same-size images, per view of views (ScaleFlipViews: a scale's
    resize, flips batched) -> extract_feat(attn_path) -> decode_head() (maps); then
    decode_head.predict_by_views() (upsample -> sum -> keep classes -> min-max -> seg_logits,
    seed)``
    ``encode_decode(): extract_feat(attn_path) -> decode_head.predict()``

    The heads live in ``decode_head``, a :class:`MCTLocalizationHead` built from ``cls_head`` and
    ``cam_head`` (also readable as ``model.cls_head`` / ``model.cam_head``); checkpoints with the
    heads at the top level (``cls_head.*``, ``cam_head.*``, as the weight converters write them)
    load through a key map (:data:`LEGACY_KEY_PREFIXES`).

    Training uses only the image-level labels ``gt_class_labels`` (multi-hot (C,)) of the data
    samples. The loss weights (alpha, beta, gamma of the paper) are the ``loss_weight`` of
    ``cls_head.loss_cls``, ``cam_head.loss_cls`` and ``cct_loss``; there is no second weight.

    Prediction (``test_cfg`` keys, defaults in brackets):

    - ``scales`` [(1.0, 0.5, 1.5, 2.0)] and ``flip`` [True]: test-time augmentation; each image
      (padding cropped via ``img_shape``) is resized per scale as ``resize_mode`` says; an image
      and its flip run as one batch of 2; the token maps of every forward are upsampled
      (bilinear) straight to ``ori_shape``, un-flipped and summed.
    - ``resize_mode`` ['bilinear_patch_multiple']: how an image is resized per scale.
      ``'bilinear_patch_multiple'``: the normalised float image is resized bilinearly to the size
      divisible by the patch size nearest to ``scale * (H, W)`` (every pixel reaches a token).
      ``'authors'``: the authors' generation loop (``engine.generate_attention_maps_ms`` with
      ``datasets.VOC12DatasetMS``): the uint8 image is resized with PIL bicubic to
      ``round(scale * W) x round(scale * H)`` (Python's ``round``), normalised, flipped, and the
      bottom / right remainder of the patch size is dropped before the backbone, as their patch
      embedding drops it (for the flipped copy: the original's left columns). The uint8 image
      is recovered from ``inputs`` by inverting the data preprocessor's normalisation and
      rounding, exact for images that were uint8 when normalised (the test pipelines load
      uint8). Matches their saved maps to 1e-5 on VOC-shaped images
      (``tests/test_models/test_segmentors/test_authors_parity.py``); their loop
      upsamples to the size of the first scale's image, ours to ``ori_shape``: the same when the
      first scale is 1.0 and the test pipeline does not resize.
    - ``map_type`` ['fused_affinity']: see :func:`localization_maps`; ``top_k`` [3] layers for the
      class-to-patch attention, ``attn_reduce`` ['sum'] over them (``'mean'``: the authors'
      MCTformer+ code, with ``top_k=12``), ``fusion`` ['product'] (``'sqrt'``: MCTformer+ code),
      ``affinity_layers`` ['all'] for the patch affinity.
    - ``minmax_eps`` [1e-5]: added to the range of the final per-class min-max normalisation
      (the authors' code: 1e-8).
    - ``use_gt_labels`` [True]: keep the classes of ``gt_class_labels`` (the paper's seeds);
      otherwise, or when a sample has no labels, keep the classes whose ``pred_class_scores``
      exceed ``score_thr`` [0.5].
    - ``bg_threshold`` [0.45]: constant background score (channel 0 of ``seg_logits``). The
      reference code fixes no value: its evaluation sweeps 0.00-0.59 on the train set and
      reports the best. 0.45 is a mid-range starting point, not a measured optimum; sweep it.
    - ``patch_size`` [None]: token stride; read from the backbone when None.
    - ``mode`` ['whole']: accepted for compatibility with mmseg configs; only 'whole'.
    - ``attn_path`` ['sdpa']: how the attention maps are read (the backbone's ``attn_path``).
      ``'sdpa'``: the backbone runs ``F.scaled_dot_product_attention`` and returns class-token
      rows and per-head q / k, the patch affinity runs as an attention over the maps
      (:func:`refine_with_attention_affinity`); memory linear in the tokens. ``'explicit'``: every
      block's (C + M) x (C + M) attention is built; memory quadratic in the tokens (about
      ``4 * B * (L + H) * (C + M)^2`` bytes), same maps to float32 rounding. ``'fused'``, the old
      name of ``'sdpa'``, is accepted with a deprecation warning.
    - ``max_tokens`` [10000]: bound on the patch tokens ``h * w`` of one forward; a scaled image
      (or an ``encode_decode`` input) with more tokens is resized down, aspect ratio kept, with a
      warning, so that a huge image cannot exhaust memory (a 3000 x 3000 image at scale 2 would
      have 140,625 tokens at patch 16). 10000 tokens = 1600 x 1600 pixels at patch 16: VOC and
      COCO images at scale 2 stay below it. ``None`` disables the bound.

    Outputs (``docs/conventions.md``): ``seg_logits`` (C + 1, H, W) at ``ori_shape`` with channel
    0 = ``bg_threshold`` and channels 1..C the maps in [0, 1] (0 for classes not kept),
    ``pred_sem_seg`` (1, H, W) = the seed (:func:`~mmseg_mctformer.models.utils.seed_labels`,
    equal to the argmax of ``seg_logits``), ``kept_classes`` (C,) bool and ``bg_threshold``
    (float), stored once for every consumer, ``pred_class_scores`` (C,) = sigmoid of the
    class-token scores (PatchCAM scores without ``cls_head``), averaged over the scales and flips.

    Args:
        backbone (dict): Config of the multi-class-token ViT (``MultiClassTokenViT``).
        cls_head (dict, optional): Config of :class:`ClassTokenPoolHead`. Default: None.
        cam_head (dict, optional): Config of :class:`PatchCAMHead`. Default: None.
        cct_loss (dict, optional): Config of :class:`ContrastiveClassTokenLoss`. Default: None.
        train_cfg (dict, optional): Unused, kept for mmseg. Default: None.
        test_cfg (dict, optional): See above. Default: None.
        data_preprocessor (dict, optional): e.g. ``SegDataPreProcessor``. Default: None.
        init_cfg (dict, optional): Initialisation config. Default: None.
        pretrained (str, optional): Backbone checkpoint, as ``EncoderDecoder.pretrained`` (sets
            the backbone's ``Pretrained`` init_cfg); ``mmseg.apis.init_model`` passes None.
            Default: None.
    """

    def __init__(self,
                 backbone: dict,
                 cls_head: OptConfigType = None,
                 cam_head: OptConfigType = None,
                 cct_loss: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None,
                 pretrained: Optional[str] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if cls_head is None and cam_head is None:
            raise ValueError('MCTformer: at least one of cls_head and cam_head must be given')
        if pretrained is not None:  # mmseg's EncoderDecoder convention (init_model sets None)
            backbone = dict(backbone, init_cfg=dict(type='Pretrained', checkpoint=pretrained))
        self.backbone = MODELS.build(backbone)
        self.decode_head = MCTLocalizationHead(cls_head=cls_head, cam_head=cam_head)
        self.cct_loss = MODELS.build(cct_loss) if cct_loss is not None else None
        self.num_classes = self._infer_num_classes()
        self.train_cfg = train_cfg
        self.test_cfg = parse_test_cfg(test_cfg, has_cam_head=self.cam_head is not None)
        self.align_corners = False
        register_load_state_dict_pre_hook(self, self._map_legacy_keys)

    @property
    def cls_head(self) -> Optional[torch.nn.Module]:
        """ClassTokenPoolHead | None: ``decode_head.cls_head``."""
        return self.decode_head.cls_head

    @property
    def cam_head(self) -> Optional[torch.nn.Module]:
        """PatchCAMHead | None: ``decode_head.cam_head``."""
        return self.decode_head.cam_head

    @staticmethod
    def map_legacy_keys(state_dict: dict, prefix: str = '') -> dict:
        """Rename, in place, the keys of heads stored at the top level (``cls_head.*``,
        ``cam_head.*``) to their ``decode_head.`` names; return ``state_dict``.

        Raises:
            ValueError: If a checkpoint holds a head under both names (naming the key).
        """
        for key in [k for k in state_dict if k.startswith(prefix)]:
            rest = key[len(prefix):]
            for old, new in LEGACY_KEY_PREFIXES.items():
                if rest.startswith(old):
                    target = prefix + new + rest[len(old):]
                    if target in state_dict:
                        raise ValueError(f'MCTformer: the checkpoint holds both {key!r} and '
                                         f'{target!r}')
                    state_dict[target] = state_dict.pop(key)
        return state_dict

    def _map_legacy_keys(self, module, state_dict, prefix, *args, **kwargs):
        """``load_state_dict`` pre-hook: :meth:`map_legacy_keys` under this module's prefix."""
        self.map_legacy_keys(state_dict, prefix)

    # ------------------------------------------------------------------ set-up
    def _infer_num_classes(self) -> int:
        found = {}
        for name in ('backbone', 'cls_head', 'cam_head'):
            num = getattr(getattr(self, name), 'num_classes', None)
            if num is not None:
                found[name] = int(num)
        if len(set(found.values())) != 1:
            raise ValueError(f'MCTformer: num_classes must agree between backbone and heads, '
                             f'got {found}')
        return next(iter(found.values()))

    @property
    def patch_size(self) -> int:
        """int: Token stride of the backbone (``test_cfg.patch_size`` overrides)."""
        size = self.test_cfg.get('patch_size')
        if size is None:
            size = getattr(self.backbone, 'patch_size', None)
        if size is None:
            raise AttributeError('MCTformer: cannot read patch_size from the backbone; set '
                                 "test_cfg['patch_size']")
        if isinstance(size, (tuple, list)):
            if len(set(size)) != 1:
                raise ValueError(f'MCTformer: only square patches are supported, got {size}')
            size = size[0]
        return int(size)

    # ------------------------------------------------------------------ training
    def extract_feat(self, inputs: Tensor, attn_path: Optional[str] = None) -> MCTViTOutput:
        """Backbone output (see ``docs/conventions.md``), with the attention of ``attn_path``
        (None when training)."""
        return self.backbone(inputs, attn_path=attn_path)

    def _class_labels(self, data_samples: SampleList, device: torch.device) -> Tensor:
        """Stack the multi-hot ``gt_class_labels`` of the samples into (B, C) float32."""
        labels = []
        for i, sample in enumerate(data_samples):
            label = getattr(sample, 'gt_class_labels', None)
            if label is None:
                path = sample.metainfo.get('img_path', '?')
                raise KeyError(f'MCTformer.loss: data sample {i} ({path}) has no '
                               "'gt_class_labels'; add PackWSSSInputs to the pipeline")
            label = torch.as_tensor(label).flatten()
            if label.numel() != self.num_classes:
                path = sample.metainfo.get('img_path', '?')
                raise ValueError(f'MCTformer.loss: gt_class_labels of sample {i} ({path}) has '
                                 f'length {label.numel()}, expected num_classes='
                                 f'{self.num_classes} (multi-hot)')
            labels.append(label)
        return torch.stack(labels).to(device=device, dtype=torch.float32)  # one cast, not B

    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses from a batch of images and their image-level labels.

        Args:
            inputs (Tensor): Images (B, 3, H, W), H and W multiples of the patch size.
            data_samples (list[SegDataSample]): Samples with ``gt_class_labels`` (C,).

        Returns:
            dict[str, Tensor]: ``loss_cls_token`` / ``loss_patch_cam`` / ``loss_cct`` (the loss
            names of the configs) and ``acc_cls_token`` / ``acc_patch_cam`` (per-label accuracy
            in %, logged only).
        """
        labels = self._class_labels(data_samples, inputs.device)
        feats = self.extract_feat(inputs)
        losses = self.decode_head.loss(feats, labels)
        if self.cct_loss is not None:
            losses[self.cct_loss.loss_name] = self.cct_loss(feats.cls_tokens, labels)
        return losses

    # ------------------------------------------------------------------ inference
    @property
    def attn_path(self) -> Optional[str]:
        """str | None: The attention the backbone returns at test time: ``test_cfg.attn_path``,
        or None for the map type that reads none (``'patchcam'``)."""
        return (self.test_cfg['attn_path'] if map_needs_attention(self.test_cfg['map_type'])
                else None)

    def _forward_maps(self, inputs: Tensor) -> Dict[str, Tensor]:
        """One forward: token-resolution maps and class scores of the images
        (:meth:`MCTLocalizationHead.forward`), the attention read as :attr:`attn_path` says.

        Args:
            inputs (Tensor): Images (B, 3, H, W), multiples of the patch size.

        Returns:
            dict[str, Tensor]: ``maps`` (B, C, h, w) float32 (``test_cfg.map_type``, not
            normalised), ``cls_scores`` (B, C) and/or ``cam_scores`` (B, C), ``cams``
            (B, C, h, w) when the heads exist.
        """
        return self.decode_head(self.extract_feat(inputs, self.attn_path), self.test_cfg)

    def _forward(self, inputs: Tensor, data_samples: OptSampleList = None) -> Dict[str, Tensor]:
        """Tensor mode: raw single-scale outputs (see :meth:`_forward_maps`), for tools."""
        return self._forward_maps(inputs)

    @property
    def views(self) -> ScaleFlipViews:
        """ScaleFlipViews: The test-time views of the current :attr:`test_cfg` (``scales``,
        ``flip``, ``resize_mode``, ``max_tokens``)."""
        return ScaleFlipViews(self.test_cfg, self.patch_size, self.data_preprocessor)

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        """Localisation maps and seed masks for a batch of (possibly padded) images.

        Args:
            inputs (Tensor): Images (B, 3, H, W); each image's ``img_shape`` metainfo gives its
                unpadded size (bottom/right padding as ``SegDataPreProcessor``).
            data_samples (list[SegDataSample], optional): Samples with metainfo ``img_shape``,
                ``ori_shape`` (and ``gt_class_labels``). Default: None (no padding, no resize).

        Returns:
            list[SegDataSample]: Samples with ``seg_logits``, ``pred_sem_seg`` and
            ``pred_class_scores`` at ``ori_shape``, ``kept_classes`` (bool (C,), the classes whose
            maps were kept) and ``bg_threshold`` (float). Consumers re-threshold the maps
            (``seg_logits[1:]``) with :func:`~mmseg_mctformer.models.utils.seed_labels` and these
            two fields; they never read the threshold back out of channel 0.
        """
        if data_samples is None:
            shape = tuple(inputs.shape[-2:])
            data_samples = [SegDataSample(metainfo=dict(img_shape=shape, ori_shape=shape))
                            for _ in range(inputs.shape[0])]
        views = self.views
        for indices, (img_h, img_w), ori_shape in views.image_groups(data_samples, inputs):
            outs = [self._forward_maps(x) for x in views(inputs[indices, :, :img_h, :img_w])]
            self.decode_head.predict_by_views(outs, [data_samples[i] for i in indices],
                                              ori_shape, self.test_cfg)
        return data_samples

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """Single-scale seg logits at input size: (B, C + 1, H, W).

        Channel 0 = ``bg_threshold``; channels 1..C = min-max normalised maps of every class
        (no class selection, no test-time augmentation; :meth:`MCTLocalizationHead.predict`).
        """
        size = tuple(inputs.shape[-2:])
        bounded = self.views.scaled_size(size, 1.0)
        if bounded != size:
            inputs = F.interpolate(inputs, bounded, mode='bilinear', align_corners=False)
        metas = [dict(meta, pad_shape=size) for meta in batch_img_metas] or [dict(pad_shape=size)]
        return self.decode_head.predict(self.extract_feat(inputs, self.attn_path), metas,
                                        self.test_cfg)
