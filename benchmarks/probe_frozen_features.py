"""Linear probe of the frozen stage-1 backbone: val mAP of one logistic layer per pooled feature.

    python benchmarks/probe_frozen_features.py [configs/mctformer_plus_demo.py] \
        --data-root work_dirs/data/shapes-photo --num-train 1000 [--amp] \
        --out benchmarks/results/small_data/probe_shapes-photo.json

Builds the stage-1 model of the config with its pretrained weights (``model.init_weights()``:
the backbone's ``init_cfg``), in eval mode, and encodes the first ``--num-train`` images of the
train split and every image of the val split of ``--data-root`` (demo layout: the config's
dataset class and test pipeline, the images as they are, normalised by the model's data
preprocessor). Three features per image, from the last block of the backbone: the mean and the
max of the patch tokens (B, D, h, w) over the grid, and the mean of the C class tokens (B, C, D)
(copies of the pretrained class token before any training). Per feature: standardised with the
train mean and std, one linear layer D -> C fitted full-batch with the multilabel soft-margin loss
(the classification loss of the model) and AdamW (``--lr``, ``--steps``, ``--seed``), then the
val mAP of :class:`~mmseg_mctformer.evaluation.metrics.MultiLabelMAPMetric` (``cls/mAP``). The
base rate is the mean label frequency of the val split (the mAP of random scores). Prints the
JSON and writes it atomically to ``--out``.
"""
import argparse
import json
import os.path as osp
import sys
import time

import torch
from torch.utils.data import DataLoader

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from bench_small_data import label_base_rate  # noqa: E402  benchmarks/ (the script's folder)

import mmseg_mctformer  # noqa: E402,F401
from mmseg_mctformer.engine.runner import load_config  # noqa: E402
from mmseg_mctformer.evaluation.metrics import MultiLabelMAPMetric  # noqa: E402
from mmseg_mctformer.models.losses import MultiLabelSoftMarginLoss  # noqa: E402
from mmseg_mctformer.utils.io import atomic_write_text  # noqa: E402

#: Feature name -> pooling of the backbone output (an ``MCTViTOutput``) into (B, D).
FEATURES = {
    'patch_mean': lambda out: out.patch_tokens.mean(dim=(2, 3)),  # (B, D, h, w) -> (B, D)
    'patch_max': lambda out: out.patch_tokens.amax(dim=(2, 3)),
    'cls_token': lambda out: out.cls_token.mean(dim=1),  # (B, C, D) -> (B, D)
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='linear probe on the frozen stage-1 backbone')
    parser.add_argument('config', nargs='?', default='configs/mctformer_plus_demo.py')
    parser.add_argument('--data-root', required=True, help='dataset folder in the demo layout')
    parser.add_argument('--num-train', type=int, default=1000,
                        help='first images of the train split used to fit the probe')
    parser.add_argument('--out', help='JSON file (written atomically)')
    parser.add_argument('--amp', action='store_true', help='bfloat16 autocast for the backbone')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--steps', type=int, default=300, help='full-batch AdamW steps')
    parser.add_argument('--lr', type=float, default=1e-2)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def build_model(cfg, device):
    """The stage-1 model of ``cfg`` with its pretrained weights, in eval mode on ``device``."""
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)  # the data preprocessor's type is mmseg's
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.to(device).eval()


def build_split(cfg, num_images=None):
    """The dataset of the config's test pipeline: the val split, or the first ``num_images`` of
    the train split (the pseudo-label loader's dataset: train images, test pipeline)."""
    from mmseg.registry import DATASETS
    key = 'val_dataloader' if num_images is None else 'pseudo_label_dataloader'
    dataset_cfg = cfg[key].dataset.copy()
    if num_images is not None:
        dataset_cfg['indices'] = num_images
    return DATASETS.build(dataset_cfg)


@torch.no_grad()
def extract_features(model, dataset, batch_size, amp=False):
    """Pooled backbone features and multi-hot labels of every image of ``dataset``.

    Returns:
        tuple[dict[str, Tensor], Tensor]: ``{name: (N, D) float32}`` for the names of
        :data:`FEATURES`, and the labels (N, C) int64, on the CPU.
    """
    from mmengine.dataset import pseudo_collate
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0,
                        collate_fn=pseudo_collate)
    device = next(model.parameters()).device
    feats = {name: [] for name in FEATURES}
    labels = []
    for batch in loader:
        data = model.data_preprocessor(batch, False)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = model.extract_feat(data['inputs'])
        for name, pool in FEATURES.items():
            feats[name].append(pool(out).float().cpu())
        labels.extend(torch.as_tensor(s.gt_class_labels).long().flatten()
                      for s in data['data_samples'])
    return {k: torch.cat(v) for k, v in feats.items()}, torch.stack(labels)


def probe_map(train_x, train_y, val_x, val_y, steps=300, lr=1e-2, seed=0):
    """Fit one logistic layer on standardised features and return its val mAP (%).

    Args:
        train_x (Tensor): Train features (N, D).
        train_y (Tensor): Train multi-hot labels (N, C).
        val_x (Tensor): Val features (M, D).
        val_y (Tensor): Val multi-hot labels (M, C).
        steps (int): Full-batch AdamW steps. Default: 300.
        lr (float): AdamW learning rate. Default: 1e-2.
        seed (int): Seed of the layer's initialisation. Default: 0.

    Returns:
        float: ``cls/mAP`` of :class:`MultiLabelMAPMetric` on the val scores.
    """
    mean = train_x.mean(0, keepdim=True)
    std = train_x.std(0, keepdim=True).clamp_min(1e-6)
    train_x, val_x = (train_x - mean) / std, (val_x - mean) / std
    torch.manual_seed(seed)
    layer = torch.nn.Linear(train_x.shape[1], train_y.shape[1])
    optimizer = torch.optim.AdamW(layer.parameters(), lr=lr)
    criterion = MultiLabelSoftMarginLoss()
    for _ in range(steps):
        optimizer.zero_grad()
        criterion(layer(train_x), train_y).backward()
        optimizer.step()
    with torch.no_grad():
        scores = layer(val_x)
    metric = MultiLabelMAPMetric()
    metric.process({}, [dict(pred_class_scores=s, gt_class_labels=y)
                        for s, y in zip(scores, val_y)])
    return float(metric.compute_metrics(metric.results)['mAP'])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    start = time.perf_counter()
    cfg = load_config(args.config, dict(data_root=args.data_root))
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    model = build_model(cfg, device)
    train_feats, train_y = extract_features(model, build_split(cfg, args.num_train),
                                            args.batch_size, args.amp)
    val_feats, val_y = extract_features(model, build_split(cfg), args.batch_size, args.amp)
    features = {name: round(probe_map(train_feats[name], train_y, val_feats[name], val_y,
                                      args.steps, args.lr, args.seed), 2)
                for name in FEATURES}
    script = osp.relpath(osp.abspath(__file__), REPO)
    record = dict(command=' '.join(['python', script] + argv), config=args.config,
                  data_root=args.data_root, num_train=len(train_y), num_val=len(val_y),
                  base_rate=round(label_base_rate(args.data_root), 2), amp=args.amp,
                  steps=args.steps, lr=args.lr, seed=args.seed, features=features,
                  seconds=round(time.perf_counter() - start, 1))
    text = json.dumps(record, indent=2)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + '\n')
    return record


if __name__ == '__main__':
    main()
