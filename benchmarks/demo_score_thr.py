"""Sweep ``test_cfg.score_thr`` of a stage-1 checkpoint on a demo-layout split; prints JSON.

``score_thr`` picks the classes whose maps are kept when no image labels are given
(``mmseg.apis.inference_model``, ``MMSegInferencer``). For each threshold: the F1 of the kept
classes against the labels of the GT masks, and the share of images that keep no class.

    python benchmarks/demo_score_thr.py configs/mctformer_plus_demo.py CKPT --data-root data/demo
"""
import argparse
import json
import os.path as osp

import numpy as np
from mmseg.apis import inference_model, init_model
from PIL import Image

import mmseg_mctformer  # noqa: F401  (registers the plugin)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument('--split', default='val')
    args = parser.parse_args()
    model = init_model(args.config, args.checkpoint, device='cpu')
    root = args.data_root
    with open(osp.join(root, 'ImageSets', 'Segmentation', f'{args.split}.txt')) as f:
        names = f.read().split()
    scores, labels = [], []
    for name in names:
        result = inference_model(model, osp.join(root, 'JPEGImages', f'{name}.jpg'))
        scores.append(result.pred_class_scores.float().numpy())
        mask = np.array(Image.open(osp.join(root, 'SegmentationClassAug', f'{name}.png')))
        present = np.zeros(len(scores[-1]), dtype=bool)
        present[[c - 1 for c in np.unique(mask) if 0 < c < 255]] = True
        labels.append(present)
    scores, labels = np.stack(scores), np.stack(labels)
    sweep = {}
    for thr in np.round(np.arange(0.1, 0.55, 0.05), 2):
        kept = scores > thr
        f1 = 2 * (kept & labels).sum() / (kept.sum() + labels.sum())
        sweep[f'{thr:.2f}'] = dict(f1=round(float(f1), 3),
                                   images_without_class=round(float((~kept.any(1)).mean()), 3))
    print(json.dumps(dict(
        config=args.config, checkpoint=args.checkpoint, split=args.split, images=len(names),
        max_score_quantiles=np.quantile(scores.max(1), [0, .25, .5, .75, 1]).round(3).tolist(),
        sweep=sweep), indent=1))


if __name__ == '__main__':
    main()
