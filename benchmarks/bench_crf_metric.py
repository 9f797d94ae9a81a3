"""Seconds per image of CRFIoUMetric's dense CRF at VOC size, in 0 (serial), 1 or 2 workers.

    python benchmarks/bench_crf_metric.py --images 8 --workers 0 2 --out benchmarks/results/x.json

Synthetic VOC-sized predictions (375 x 500, 21 classes: a few soft blobs on a noisy image) are fed
to :class:`mmseg_mctformer.evaluation.CRFIoUMetric`; each setting times ``process`` + ``evaluate``
of all images. The machine's load average is recorded beside the times.
"""
import argparse
import os
import time

import numpy as np
import torch
from json_output import emit_json
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image

from mmseg_mctformer.evaluation import CRFIoUMetric


def make_samples(folder, num, height=375, width=500, classes=21, seed=0):
    rng = np.random.default_rng(seed)
    samples = []
    yy, xx = np.mgrid[:height, :width]
    for i in range(num):
        label = np.zeros((height, width), np.int64)
        image = rng.integers(0, 60, (height, width, 3)).astype(np.uint8)
        for c in rng.choice(np.arange(1, classes), 3, replace=False):
            cy, cx, r = rng.integers(60, height - 60), rng.integers(60, width - 60), 50
            blob = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
            label[blob] = c
            image[blob] = rng.integers(80, 255, 3)
        logits = rng.normal(0, 1, (classes, height, width)).astype(np.float32)
        logits[label, yy, xx] += 1.5
        path = os.path.join(folder, f'{i}.png')
        Image.fromarray(image).save(path)
        s = SegDataSample(metainfo=dict(img_path=path))
        s.seg_logits = PixelData(data=torch.from_numpy(logits))
        s.pred_sem_seg = PixelData(data=torch.from_numpy(logits).argmax(0, keepdim=True))
        s.gt_sem_seg = PixelData(data=torch.from_numpy(label)[None])
        samples.append(s.to_dict())
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=8)
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 2])
    parser.add_argument('--folder', default='/tmp/bench_crf_metric')
    parser.add_argument('--out')
    args = parser.parse_args()
    os.makedirs(args.folder, exist_ok=True)
    samples = make_samples(args.folder, args.images)
    results = {}
    for workers in args.workers:
        metric = CRFIoUMetric(num_workers=workers)
        metric.dataset_meta = dict(classes=tuple(str(c) for c in range(21)))
        start = time.perf_counter()
        for i in range(0, len(samples), 2):  # batches of 2, as a test loop hands them
            metric.process({}, samples[i:i + 2])
        metrics = metric.evaluate(len(samples))
        seconds = time.perf_counter() - start
        results[str(workers)] = dict(seconds=round(seconds, 2),
                                     seconds_per_image=round(seconds / len(samples), 3),
                                     mIoU=round(float(metrics['mIoU']), 2),
                                     crf_mIoU=round(float(metrics['crf/mIoU']), 2))
    emit_json(dict(images=args.images, size='375x500', classes=21, cpus=os.cpu_count(),
                   loadavg_1_5_15=list(os.getloadavg()), torch_threads=torch.get_num_threads(),
                   workers=results), args.out)


if __name__ == '__main__':
    main()
