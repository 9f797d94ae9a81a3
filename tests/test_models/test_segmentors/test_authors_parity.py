"""Parity with recorded outputs of the authors' code (tests/data/authors_parity/README.md).

Each recording holds a small seeded model of the authors' code (its ``{'model': ...}`` checkpoint,
stored as float16-exact values), its inputs and its outputs. The checkpoint goes through our
converter, loads strictly into our :class:`MCTformer` configured with the authors' choices, and
every output must agree to 1e-5 (relative to the largest magnitude of each recorded tensor).
"""
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmseg.models import SegDataPreProcessor
from mmseg.structures import SegDataSample
from PIL import Image

from mmseg_mctformer.datasets import save_label_file
from mmseg_mctformer.models.losses import ContrastiveClassTokenLoss
from mmseg_mctformer.models.segmentors import MCTformer
from mmseg_mctformer.models.utils import minmax_normalise, seed_labels
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


def model_cfg(rec, **test_cfg):
    """Config of our model with the authors' choices of the recorded code version
    (``test_cfg`` updated by the keyword arguments)."""
    cfg = rec['config']
    plus = cfg['version'] == 'head'
    C, D, L = cfg['num_classes'], cfg['embed_dims'], cfg['num_layers']
    outputs = rec['outputs']
    return dict(
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
            fusion='sqrt' if plus else 'product', affinity_layers='all', minmax_eps=1e-8,
            **test_cfg))


def converted_state(rec):
    """Their checkpoint through our converter."""
    plus = rec['config']['version'] == 'head'
    state, info = convert_mctformer(
        {'model': {k: v.float() for k, v in rec['checkpoint']['model'].items()}})
    assert info['format'] == ('mctformer-plus' if plus else 'mctformer-v2')
    return state


def build(rec, data_preprocessor=None, **test_cfg):
    """Our model with the authors' choices, their weights loaded strictly."""
    model = MCTformer(**model_cfg(rec, **test_cfg), data_preprocessor=data_preprocessor)
    model.load_state_dict(converted_state(rec), strict=True)
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
        close(torch.stack(feats.cls_tokens), out['cls_tokens'])
        close(model.cls_head(feats.cls_token), out['cls_scores'])
        close(model.cam_head(feats.patch_tokens)[1], out['cam_scores'])


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
            tokens = model.backbone(x).cls_tokens
        last2 = ContrastiveClassTokenLoss(layers=2, normalize=True, label_weighted=True)
        close(last2(tokens, out['labels']), out['loss_cct_last2'])


MS_RECORDINGS = ('ms_mctformer_plus', 'ms_mctformer_v2')
# the data preprocessor of the configs: RGB mean / std in grey levels, applied after bgr_to_rgb
MEAN_255 = [123.675, 116.28, 103.53]
STD_255 = [58.395, 57.12, 57.375]


def load_ms(name):
    """A recording of their generation loop (benchmarks/record_authors_parity.py): the config,
    the checkpoint and one dict of arrays per image."""
    with np.load(osp.join(DATA, name + '.npz')) as npz:
        arrays = {k: npz[k] for k in npz.files}
    config = json.loads(str(arrays.pop('config')))
    ckpt = {'model': {k[len('model.'):]: torch.from_numpy(v) for k, v in arrays.items()
                      if k.startswith('model.')}}
    images = [{k.split('.', 1)[1]: torch.from_numpy(v) for k, v in arrays.items()
               if k.startswith(f'img{i}.')} for i in range(config['num_images'])]
    return dict(config=config, checkpoint=ckpt,
                outputs=dict(ms_scales=torch.tensor(config['scales']),
                             ms_layer_index=torch.tensor(config['layer_index']))), images


@pytest.fixture(scope='module', params=MS_RECORDINGS)
def ms_recording(request):
    rec, images = load_ms(request.param)
    model = build(rec, data_preprocessor=SegDataPreProcessor(
        mean=MEAN_255, std=STD_255, bgr_to_rgb=True, pad_val=0, size_divisor=16),
        resize_mode='authors')
    return model, rec['config'], images


def predict_loaded_image(model, image):
    """``MCTformer.test_step`` on the image as the test pipeline gives it (uint8 BGR, CHW),
    through the data preprocessor (RGB, normalised, padded to 16)."""
    rgb = image['image_u8']
    sample = SegDataSample(metainfo=dict(img_shape=tuple(rgb.shape[:2]),
                                         ori_shape=tuple(rgb.shape[:2])))
    sample.gt_class_labels = image['label'].long()
    bgr = rgb.flip(-1).permute(2, 0, 1).contiguous()
    with torch.no_grad():
        return model.test_step(dict(inputs=[bgr], data_samples=[sample]))[0]


def test_predict_matches_the_authors_generation_loop(ms_recording):
    """Their loop (PIL bicubic resize of the uint8 image per scale, flips, the patch remainder
    dropped, maps upsampled to the image, summed, min-max) on VOC-shaped images that are no
    multiple of 16: our ``predict`` with ``resize_mode='authors'`` gives their saved maps to 1e-5
    and, at every recorded threshold, the seeds of their evaluation.py rule exactly."""
    model, config, images = ms_recording
    assert all(s % PATCH for image in images for s in image['image_u8'].shape[:2])
    for image in images:
        out = predict_loaded_image(model, image)
        classes = image['map_classes']
        assert out.kept_classes.nonzero()[:, 0].tolist() == classes.tolist()
        maps = out.seg_logits.data[1:]
        err = (maps[classes] - image['maps']).abs().max().item()
        assert err <= 1e-5, f'{tuple(image["image_u8"].shape)}: max |ours - theirs| {err:.1e}'
        assert not maps[~out.kept_classes].any()
        for t, theirs in zip(config['thresholds'], image['seeds']):
            ours = seed_labels(maps, t, out.kept_classes)
            assert torch.equal(ours, theirs.long()), f'seeds differ at threshold {t}'
            assert 0 < (theirs > 0).float().mean() < 1  # seeds of background and foreground
        model.test_cfg['bg_threshold'] = config['thresholds'][0]
        out = predict_loaded_image(model, image)
        assert torch.equal(out.pred_sem_seg.data[0], image['seeds'][0].long())


def test_bilinear_patch_multiple_differs_from_the_authors_on_these_sizes(ms_recording):
    """The other resize mode (bilinear on the normalised image to the nearest multiple of 16)
    gives other token grids on these sizes, hence other maps."""
    model, _, images = ms_recording
    model.test_cfg['resize_mode'] = 'bilinear_patch_multiple'
    try:
        out = predict_loaded_image(model, images[0])
    finally:
        model.test_cfg['resize_mode'] = 'authors'
    err = (out.seg_logits.data[1:][images[0]['map_classes']] - images[0]['maps']).abs().max()
    assert err > 1e-2


@pytest.mark.parametrize('name', MS_RECORDINGS)
def test_eval_seeds_tool_gives_the_authors_evaluation(name, tmp_path):
    """End to end: ``tools/eval_seeds.py`` on the recorded images (PNG files, labels from a
    ``cls_labels.npy`` file, ground-truth masks) with a config in the authors' resize mode and
    their converted checkpoint gives, at every threshold, the mIoU their ``evaluation.py``
    computed from their loop's maps."""
    tool = osp.join(osp.dirname(osp.dirname(DATA)), '..', 'tools', 'eval_seeds.py')
    spec = importlib.util.spec_from_file_location('eval_seeds', tool)
    eval_seeds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(eval_seeds)
    rec, images = load_ms(name)
    config = rec['config']
    for d in ('img', 'gt'):
        (tmp_path / d).mkdir()
    names = [f'img{i}' for i in range(len(images))]
    for n, image in zip(names, images):
        Image.fromarray(image['image_u8'].numpy()).save(tmp_path / 'img' / f'{n}.png')
        Image.fromarray(image['gt'].numpy()).save(tmp_path / 'gt' / f'{n}.png')
    (tmp_path / 'val.txt').write_text('\n'.join(names) + '\n')
    save_label_file(str(tmp_path / 'cls_labels.npy'),
                    {n: image['label'].nonzero()[:, 0].tolist()
                     for n, image in zip(names, images)}, config['num_classes'])
    ckpt = str(tmp_path / 'theirs.pth')
    torch.save({'state_dict': converted_state(rec), 'meta': {}}, ckpt)
    loader = dict(batch_size=1, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                  dataset=dict(
                      type='WSSSBaseDataset', data_root=str(tmp_path), ann_file='val.txt',
                      data_prefix=dict(img_path='img', seg_map_path='gt'), img_suffix='.png',
                      label_file='cls_labels.npy',
                      metainfo=dict(classes=('background', 'a', 'b', 'c')),
                      pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                                dict(type='PackWSSSInputs')]))
    cfg_path = tmp_path / 'cfg.py'
    Config(dict(
        default_scope='mmseg',
        custom_imports=dict(imports=['mmseg_mctformer'], allow_failed_imports=False),
        model=dict(type='MCTformer', **model_cfg(rec, resize_mode='authors'),
                   data_preprocessor=dict(type='WSSSDataPreProcessor', mean=MEAN_255,
                                          std=STD_255, bgr_to_rgb=True, pad_val=0,
                                          seg_pad_val=255, size_divisor=16)),
        val_dataloader=loader, test_dataloader=loader, test_cfg=dict(type='TestLoop'),
        val_cfg=dict(type='ValLoop'), val_evaluator=dict(type='SeedMetric'),
        env_cfg=dict(dist_cfg=dict(backend='gloo')), log_level='WARNING',
    )).dump(str(cfg_path))
    out = eval_seeds.main([str(cfg_path), ckpt, '--split', 'val', '--thresholds',
                           *map(str, config['thresholds']), '--work-dir', str(tmp_path / 'w')])
    assert out['seed/absent_classes'] == []  # every class occurs: both IoU conventions agree
    ours = [out['seed/mIoU_per_threshold'][f'{t:.2f}'] for t in config['thresholds']]
    assert ours == pytest.approx(config['their_miou'], abs=0.005)  # ours rounded to 0.01


def test_authors_resize_is_bounded_by_max_tokens(ms_recording):
    """A scaled image over ``test_cfg.max_tokens`` patches runs at a smaller size (aspect ratio
    kept), as in the other mode, and the maps still cover the image."""
    model, _, images = ms_recording
    seen = []
    forward = model._forward_maps
    model._forward_maps = lambda x: seen.append(tuple(x.shape[-2:])) or forward(x)
    model.test_cfg['max_tokens'] = 20  # 94 x 125 at scale 1.0: 5 x 7 = 35 tokens
    try:
        out = predict_loaded_image(model, images[0])
    finally:
        model.test_cfg['max_tokens'] = 10000
        del model._forward_maps
    assert all(h * w // PATCH ** 2 <= 20 and h % PATCH == w % PATCH == 0 for h, w in seen)
    assert out.seg_logits.shape == (94, 125)


def test_resize_mode_is_checked():
    rec = load('mctformer_v2_224')
    with pytest.raises(ValueError, match=r"resize_mode'\] = 'pil'.*'authors'"):
        build(rec, resize_mode='pil')


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
