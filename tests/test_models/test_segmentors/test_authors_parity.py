"""Parity with recorded outputs of the authors' code (tests/data/authors_parity/README.md).

Each recording holds a small seeded model of the authors' code (its ``{'model': ...}`` checkpoint,
stored as float16-exact values), its inputs and its outputs. The checkpoint goes through our
converter, loads strictly into our :class:`MCTformer` configured with the authors' choices, and
every output must agree to 1e-5 (relative to the largest magnitude of each recorded tensor).
"""
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmseg.structures import SegDataSample
from PIL import Image

from mmseg_mctformer.models.losses import ContrastiveClassTokenLoss
from mmseg_mctformer.models.segmentors import MCTformer
from mmseg_mctformer.models.utils import minmax_normalise
from mmseg_mctformer.utils import convert_checkpoint, convert_mctformer, detect_format

DATA = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'data',
                'authors_parity')
RECORDINGS = ('mctformer_plus_448', 'mctformer_plus_224', 'mctformer_v2_224')
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
PATCH = 16


def load(name):
    return torch.load(osp.join(DATA, name + '.pt'), map_location='cpu', weights_only=True)


def normalise(img_u8):
    """(H, W, 3) uint8 -> (3, H, W) float32, ImageNet mean / std (the authors' transform)."""
    a = (np.asarray(img_u8, dtype=np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(a.transpose(2, 0, 1).copy())


def close(ours, theirs, rtol=1e-5):
    ours, theirs = torch.as_tensor(ours).float(), torch.as_tensor(theirs).float()
    assert ours.shape == theirs.shape
    scale = theirs.abs().max().clamp(min=1e-12)
    err = ((ours - theirs).abs().max() / scale).item()
    assert err <= rtol, f'relative error {err:.2e} > {rtol:.0e}'


def build(rec):
    """Our model with the authors' choices of the recorded code version."""
    cfg = rec['config']
    plus = cfg['version'] == 'head'
    C, D, L = cfg['num_classes'], cfg['embed_dims'], cfg['num_layers']
    outputs = rec['outputs']
    model = MCTformer(
        backbone=dict(
            type='MultiClassTokenViT',
            arch=dict(embed_dims=D, num_layers=L, num_heads=cfg['num_heads'],
                      feedforward_channels=D * cfg['mlp_ratio'], patch_size=PATCH),
            num_classes=C, img_size=cfg['img_size'], drop_path_rate=0.0,
            cls_pos_embed='per_class',
            pos_interp='size' if plus else 'scale_factor_offset'),
        cls_head=dict(type='ClassTokenPoolHead', num_classes=C, in_channels=D),
        cam_head=dict(type='PatchCAMHead', num_classes=C, in_channels=D,
                      pool='gwrp' if plus else 'gap'),
        cct_loss=(dict(type='ContrastiveClassTokenLoss', layers=L, normalize=True,
                       label_weighted=True) if plus else None),
        test_cfg=dict(
            scales=tuple(outputs['ms_scales'].tolist()), flip=True, map_type='fused_affinity',
            # --layer-index: 12 (MCTformer+, i.e. all 3 layers here, averaged) / 3 (V2, summed)
            top_k=min(int(outputs['ms_layer_index']), L),
            attn_reduce='mean' if plus else 'sum',
            fusion='sqrt' if plus else 'product', affinity_layers='all', minmax_eps=1e-8))
    state, info = convert_mctformer(
        {'model': {k: v.float() for k, v in rec['checkpoint']['model'].items()}})
    assert info['format'] == ('mctformer-plus' if plus else 'mctformer-v2')
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.fixture(scope='module', params=RECORDINGS)
def recording(request):
    return load(request.param)


def test_converter_detects_and_keeps_every_used_tensor(recording):
    ckpt = {'model': {k: v.float() for k, v in recording['checkpoint']['model'].items()}}
    plus = recording['config']['version'] == 'head'
    assert detect_format(ckpt) == ('mctformer-plus' if plus else 'mctformer-v2')
    state = convert_checkpoint(ckpt)
    C, D = recording['config']['num_classes'], recording['config']['embed_dims']
    grid = recording['config']['img_size'] // PATCH
    assert state['backbone.pos_embed'].shape == (1, C + grid * grid, D)
    assert state['cam_head.conv.weight'].shape == (C, D, 3, 3)
    src = ckpt['model']
    if plus:
        torch.testing.assert_close(state['backbone.pos_embed'],
                                   torch.cat([src['pos_embed_cls'], src['pos_embed_pat']], 1))
    else:
        torch.testing.assert_close(state['backbone.pos_embed'], src['pos_embed'])
    # every source tensor but MCTformer+'s unused inherited `pos_embed` has a destination
    used = sum(v.numel() for k, v in src.items() if not (plus and k == 'pos_embed'))
    assert sum(v.numel() for v in state.values()) == used


def test_scores_and_class_tokens(recording):
    model, out = build(recording), recording['outputs']
    S = recording['config']['img_size']
    rep = S // out['train_images_u8'].shape[1]
    big = out['train_images_u8'].numpy().repeat(rep, axis=1).repeat(rep, axis=2)
    x = torch.stack([normalise(b) for b in big])
    with torch.no_grad():
        feats = model.backbone(x)
        close(torch.stack(feats['cls_tokens']), out['cls_tokens'])
        close(model.cls_head(feats['cls_token']), out['cls_scores'])
        close(model.cam_head(feats['patch_tokens'])[1], out['cam_scores'])


def test_training_losses(recording):
    model, out = build(recording), recording['outputs']
    S = recording['config']['img_size']
    rep = S // out['train_images_u8'].shape[1]
    big = out['train_images_u8'].numpy().repeat(rep, axis=1).repeat(rep, axis=2)
    x = torch.stack([normalise(b) for b in big])
    samples = []
    for label in out['labels']:
        sample = SegDataSample()
        sample.gt_class_labels = label.long()
        samples.append(sample)
    model.train()
    with torch.no_grad():
        losses = model.loss(x, samples)
    close(losses['loss_cls_token'], out['loss_cls'])
    close(losses['loss_patch_cam'], out['loss_patch'])
    close(sum(v for k, v in losses.items() if k.startswith('loss_')), out['loss_total'])
    if 'loss_cct' in out:
        close(losses['loss_cct'], out['loss_cct'])
        with torch.no_grad():
            tokens = model.backbone(x)['cls_tokens']
        last2 = ContrastiveClassTokenLoss(layers=2, normalize=True, label_weighted=True)
        close(last2(tokens, out['labels']), out['loss_cct_last2'])


def test_multiscale_flip_maps_of_the_generation_loop(recording):
    """Their loop: PIL bicubic resize per scale (+ flip), the remainder of the patch size dropped
    at the bottom / right (after the flip), maps resized to the image, summed over scales and
    flips, absent classes zeroed, min-max (eps 1e-8) per class."""
    model, out = build(recording), recording['outputs']
    img = out['ms_image_u8'].numpy()
    H, W = img.shape[:2]
    total = torch.zeros(model.num_classes, H, W)
    for s in out['ms_scales'].tolist():
        size = (round(W * s), round(H * s))  # PIL (width, height)
        x = normalise(Image.fromarray(img).resize(size, resample=Image.Resampling.BICUBIC))
        h, w = x.shape[1] // PATCH * PATCH, x.shape[2] // PATCH * PATCH
        # their patch embedding drops the bottom / right remainder, after the flip
        x = torch.stack([x, x.flip(-1)])[:, :, :h, :w]
        with torch.no_grad():
            maps = model._forward_maps(x)['maps']
        maps = F.interpolate(maps, (H, W), mode='bilinear', align_corners=False)
        total += maps[0] + maps[1].flip(-1)
    keep = out['ms_label'] > 0
    assert out['ms_map_classes'].tolist() == torch.nonzero(keep)[:, 0].tolist()
    close(total[keep], out['ms_sum'])
    ours = minmax_normalise(total * keep[:, None, None], model.test_cfg['minmax_eps'])
    # The min-max divides by the map's range, which for these tiny random models is only
    # 0.3-1.3 % of its magnitude (the summed affinity is nearly uniform): float32 rounding
    # (~1e-7, in their code as in ours) is amplified by max / range. Same 1e-5 after that factor.
    flat = out['ms_sum'].flatten(1)
    cond = (flat.abs().amax(1) / (flat.amax(1) - flat.amin(1))).max().item()
    close(ours[keep], out['ms_maps'], rtol=1e-5 * cond)


def test_default_formulation_differs_from_the_authors():
    """The recorded maps are sensitive to the options: our defaults (product fusion, top 3
    summed) do not reproduce the authors' MCTformer+ maps."""
    rec = load('mctformer_plus_224')
    model = build(rec)
    model.test_cfg.update(fusion='product', attn_reduce='sum')
    out = rec['outputs']
    img = out['ms_image_u8'].numpy()
    x = normalise(img)[None, :, :32, :48]
    with torch.no_grad():
        ours = model._forward_maps(x)['maps']
        model.test_cfg.update(fusion='sqrt', attn_reduce='mean')
        theirs = model._forward_maps(x)['maps']
    assert not torch.allclose(minmax_normalise(ours), minmax_normalise(theirs), atol=1e-3)
