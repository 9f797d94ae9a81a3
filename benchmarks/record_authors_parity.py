"""Record the authors' seed-generation loop on VOC-shaped images for the parity tests.

Writes ``tests/data/authors_parity/ms_{mctformer_plus,mctformer_v2}.npz``, which
``tests/test_models/test_segmentors/test_authors_parity.py`` compares with
``MCTformer.predict`` (``test_cfg.resize_mode='authors'``). No code of theirs is in this project:
the script imports ``models.py`` / ``engine.py`` / ``datasets.py`` from a checkout of github
xulianuwa/MCTformer (``--authors-repo``; HEAD 0acc27a for MCTformer+, 96065977 for V2) and needs
timm 0.4.12 on the path (``--authors-pythonpath``, e.g. made by
``pip install --no-deps --target DIR timm==0.4.12``). One version a process (their module names
collide)::

    python benchmarks/record_authors_parity.py --version plus --authors-repo EXT/head \\
        --authors-pythonpath EXT/site --out tests/data/authors_parity/ms_mctformer_plus.npz
    python benchmarks/record_authors_parity.py --version v2 --authors-repo EXT/v2 \\
        --authors-pythonpath EXT/site --out tests/data/authors_parity/ms_mctformer_v2.npz

What runs is theirs: the model from their constructor (sizes below), their
``datasets.VOC12DatasetMS`` (PIL bicubic resize of each image to ``round(W * s) x round(H * s)``
per scale, then its flip; their ``build_transform`` = ``ToTensor`` + ``Normalize``) in a
``DataLoader`` of batch 1, and ``engine.generate_attention_maps_ms`` with ``--attention-type fused
--patch-attn-refine --visualize-cls-attn`` and ``--layer-index 12`` (MCTformer+, run_mct_plus.sh)
or 3 (V2, run.sh). Recorded (``np.savez_compressed``): the weights, the images and labels, the
min-max normalised maps their loop saves (``cam_npy_dir``) and the seeds of their
``evaluation.py`` rule (background score ``t`` in channel 0, the maps of the present classes at
their class + 1, zeros elsewhere, ``argmax``) at a few thresholds, and the mIoU their
``evaluation.do_python_eval`` (``--type npy --t t``) gives for those maps against a ground-truth
mask per image (their seed at 0.3 with a 2-pixel ignored border; made here, not theirs).

Shims for a CPU run (none changes a computed value): stand-in ``sklearn.metrics`` (their mAP
evaluation only) and ``pandas`` (``evaluation.py``'s command line only) modules,
``torch.Tensor.cuda`` returning the tensor (the GWRP weights call ``.cuda()``),
``PIL.Image.CUBIC`` = ``BICUBIC`` (the alias Pillow 10 removed). Their ``torch.cuda.amp.autocast``
is inactive on a CPU: everything runs in float32.

Weights: their initialisation under ``torch.manual_seed(--seed)``, then every parameter plus
``--perturb * randn`` and the attention ``qkv`` weights times ``--qkv-gain`` (sharper attention,
so that the maps are not flat), rounded to float16 values (stored as float16, exact in float32).
The script prints, per map, the range of the summed map over its magnitude (read by wrapping the
``np.sum`` their loop calls): 0.44-0.83 with the defaults, i.e. maps far from flat.
Images: smooth random colour fields (bicubic upsampling of a coarse random grid plus noise) at
VOC shapes divided by four, none a multiple of 16, stored as uint8.
"""
import argparse
import importlib.machinery
import json
import os
import os.path as osp
import sys
import tempfile
import types
from functools import partial

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

# (H, W): VOC's 375 x 500, 500 x 333 and 333 x 500 divided by four
IMAGE_SIZES = ((94, 125), (125, 83), (83, 125))
LABELS = ((1, 0, 1), (0, 1, 0), (1, 1, 0))
THRESHOLDS = (0.2, 0.35, 0.5)
GT_THRESHOLD = 0.3  # the ground truth of the evaluation: their seed at 0.3, border ignored
VERSIONS = {
    # their model class, test scales, --layer-index
    'plus': ('MCTformerPlus', (1.0, 0.75, 1.25), 12),
    'v2': ('MCTformerV2', (1.0, ), 3),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--version', choices=sorted(VERSIONS), required=True)
    parser.add_argument('--authors-repo', required=True, help='checkout of xulianuwa/MCTformer')
    parser.add_argument('--authors-pythonpath', default='', help='folder holding timm 0.4.12')
    parser.add_argument('--out', required=True, help='.npz file to write')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--embed-dims', type=int, default=24)
    parser.add_argument('--num-layers', type=int, default=3)
    parser.add_argument('--num-heads', type=int, default=2)
    parser.add_argument('--mlp-ratio', type=int, default=2)
    parser.add_argument('--num-classes', type=int, default=3)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--perturb', type=float, default=0.05)
    parser.add_argument('--qkv-gain', type=float, default=8.0)
    return parser.parse_args(argv)


def install_shims():
    sklearn = types.ModuleType('sklearn')
    metrics = types.ModuleType('sklearn.metrics')
    metrics.average_precision_score = None
    sklearn.metrics = metrics
    sklearn.__spec__ = importlib.machinery.ModuleSpec('sklearn', None)
    metrics.__spec__ = importlib.machinery.ModuleSpec('sklearn.metrics', None)
    sys.modules.setdefault('sklearn', sklearn)
    sys.modules.setdefault('sklearn.metrics', metrics)
    pandas = types.ModuleType('pandas')
    pandas.__spec__ = importlib.machinery.ModuleSpec('pandas', None)
    sys.modules.setdefault('pandas', pandas)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    if not hasattr(Image, 'CUBIC'):
        Image.CUBIC = Image.Resampling.BICUBIC


def make_images(rng):
    images = []
    for h, w in IMAGE_SIZES:
        coarse = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC),
                            dtype=np.float32)
        noisy = smooth + rng.normal(0, 12, smooth.shape)
        images.append(np.clip(np.round(noisy), 0, 255).astype(np.uint8))
    return images


def build_model(args, models):
    cls_name, _, _ = VERSIONS[args.version]
    kwargs = dict(img_size=args.img_size, patch_size=16, embed_dim=args.embed_dims,
                  depth=args.num_layers, num_heads=args.num_heads, mlp_ratio=args.mlp_ratio,
                  qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6),
                  num_classes=args.num_classes, drop_rate=0.0, drop_path_rate=0.0)
    if args.version == 'plus':
        kwargs['input_size'] = args.img_size
    model = getattr(models, cls_name)(**kwargs)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(args.perturb * torch.randn_like(p))
            if name.endswith('attn.qkv.weight'):
                p.mul_(args.qkv_gain)
            p.copy_(p.half().float())
    return model.eval()


class _SumRecorder(types.ModuleType):
    """``numpy`` for their ``engine`` module, with ``sum`` recording its results."""

    def __init__(self):
        super().__init__('numpy')
        self.sums = []

    def __getattr__(self, name):
        return getattr(np, name)

    def sum(self, *args, **kwargs):
        out = np.sum(*args, **kwargs)
        self.sums.append(np.array(out, copy=True))
        return out


def their_seed(maps_dict, shape, num_classes, threshold):
    """Their evaluation.py rule on one saved map dict (``--type npy --t threshold``)."""
    tensor = np.zeros((num_classes + 1, *shape), np.float32)
    for key, value in maps_dict.items():
        tensor[key + 1] = value
    tensor[0] = threshold
    return np.argmax(tensor, axis=0).astype(np.uint8)


def main(argv=None):
    args = parse_args(argv)
    sys.path[:0] = [p for p in (args.authors_pythonpath, osp.abspath(args.authors_repo)) if p]
    install_shims()
    import datasets as their_datasets  # noqa: E402 (their checkout, put on the path above)
    import engine as their_engine
    import evaluation as their_evaluation
    import models as their_models

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = build_model(args, their_models)
    images = make_images(rng)
    cls_name, scales, layer_index = VERSIONS[args.version]
    recorder = _SumRecorder()
    their_engine.np = recorder
    names = [f'img{i}' for i in range(len(images))]
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(osp.join(tmp, 'voc12'))
        os.makedirs(osp.join(tmp, 'JPEGImages'))
        for name, img in zip(names, images):  # PNG content (lossless); PIL opens it by content
            Image.fromarray(img).save(osp.join(tmp, 'JPEGImages', name + '.jpg'), format='PNG')
        with open(osp.join(tmp, 'train_aug_id.txt'), 'w') as f:
            f.write('\n'.join(names) + '\n')
        np.save(osp.join(tmp, 'voc12', 'cls_labels.npy'),
                {n: np.array(lab, np.float32) for n, lab in zip(names, LABELS)})
        cwd = os.getcwd()
        os.chdir(tmp)  # their label loader reads voc12/cls_labels.npy from the working dir
        try:
            run_args = argparse.Namespace(
                input_size=args.img_size, gen_attention_maps=True, data_set='VOC12MS',
                img_list=tmp, data_path=tmp, scales=list(scales), model=f'deit_small_{cls_name}',
                layer_index=layer_index, attention_type='fused', patch_attn_refine=True,
                visualize_cls_attn=True, attention_dir=None, cam_npy_dir=osp.join(tmp, 'npy'),
                nb_classes=args.num_classes, patch_size=16, out_crf=None)
            dataset, _ = their_datasets.build_dataset(False, run_args, gen_attn=True)
            loader = torch.utils.data.DataLoader(dataset, batch_size=1, shuffle=False)
            with torch.no_grad():
                their_engine.generate_attention_maps_ms(loader, model, torch.device('cpu'),
                                                        run_args)
            saved = [np.load(osp.join(tmp, 'npy', n + '.npy'), allow_pickle=True).item()
                     for n in names]
            gts = []
            os.makedirs(osp.join(tmp, 'gt'))
            for name, img, maps_dict in zip(names, images, saved):
                gt = their_seed(maps_dict, img.shape[:2], args.num_classes, GT_THRESHOLD)
                gt[:2], gt[-2:], gt[:, :2], gt[:, -2:] = 255, 255, 255, 255
                Image.fromarray(gt).save(osp.join(tmp, 'gt', name + '.png'))
                gts.append(gt)
            their_miou = [
                their_evaluation.do_python_eval(osp.join(tmp, 'npy'), osp.join(tmp, 'gt'), names,
                                                args.num_classes + 1, 'npy', t)['mIoU']
                for t in THRESHOLDS]
        finally:
            os.chdir(cwd)
    assert len(recorder.sums) == len(images), len(recorder.sums)
    arrays = {f'model.{k}': v.half().numpy() for k, v in model.state_dict().items()}
    for i, (img, label, maps_dict, total, gt) in enumerate(
            zip(images, LABELS, saved, recorder.sums, gts)):
        classes = sorted(maps_dict)
        assert classes == [c for c in range(args.num_classes) if label[c]], classes
        arrays.update({
            f'img{i}.image_u8': img,
            f'img{i}.label': np.array(label, np.int64),
            f'img{i}.map_classes': np.array(classes, np.int64),
            f'img{i}.maps': np.stack([maps_dict[c] for c in classes]).astype(np.float32),
            f'img{i}.seeds': np.stack([their_seed(maps_dict, img.shape[:2], args.num_classes, t)
                                       for t in THRESHOLDS]),
            f'img{i}.gt': gt,
        })
        flat = total[classes].reshape(len(classes), -1)
        ratio = (flat.max(1) - flat.min(1)) / np.abs(flat).max(1)
        print(f'{tuple(img.shape[:2])}: summed map range / magnitude per class {ratio.tolist()}')
    config = dict(version='head' if args.version == 'plus' else 'v12', img_size=args.img_size,
                  num_classes=args.num_classes, embed_dims=args.embed_dims,
                  num_layers=args.num_layers, num_heads=args.num_heads, mlp_ratio=args.mlp_ratio,
                  seed=args.seed, perturb=args.perturb, qkv_gain=args.qkv_gain,
                  scales=list(scales), layer_index=layer_index, thresholds=list(THRESHOLDS),
                  num_images=len(images), gt_threshold=GT_THRESHOLD,
                  their_miou=[float(m) for m in their_miou])
    print(f'their evaluation.py mIoU at {THRESHOLDS}: {their_miou}')
    tmp_out = args.out + '.tmp.npz'
    np.savez_compressed(tmp_out, config=np.array(json.dumps(config)), **arrays)
    os.replace(tmp_out, args.out)
    print(f'wrote {args.out} ({osp.getsize(args.out) / 1024:.0f} KB)')


if __name__ == '__main__':
    main()
