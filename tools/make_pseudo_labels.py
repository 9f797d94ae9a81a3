"""Write the seed masks (pseudo labels) of a split as palette PNGs.

The split is the config's top-level ``pseudo_label_dataloader`` (a test-style dataloader over the
training images); without it, ``test_dataloader``. ``--split`` picks another one. A rerun skips the
masks already written; with ``--launcher pytorch|slurm`` every rank labels its share. The folder's
``pseudo_label_info.json`` records what produced it (checkpoint, config, threshold, map settings,
precision: ``--amp``); a rerun with other settings is refused unless ``--overwrite`` is given.
Example::

    python tools/make_pseudo_labels.py configs/mctformer_plus_voc.py work_dirs/x/epoch_60.pth \\
        --out work_dirs/x/pseudo_labels --bg-threshold 0.45
"""
import argparse
import json

import mmseg_mctformer  # noqa: F401  (registers the plugin and the ``mmseg::`` config scope)
from mmseg_mctformer.cli import (
    SPLIT_KEYS,
    add_common_args,
    make_pseudo_labels,
    parse_with_local_rank,
)
from mmseg_mctformer.engine.runner import close_process_group, load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Generate pseudo labels (seed PNGs) of a split')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='output folder (default: {work_dir}/pseudo_labels)')
    parser.add_argument('--split', choices=sorted(SPLIT_KEYS),
                        help='split to label (default: pseudo_label_dataloader, else test)')
    parser.add_argument('--bg-threshold', type=float,
                        help='background score (default: the model\'s test_cfg.bg_threshold)')
    parser.add_argument('--save-logits', action='store_true',
                        help='also save the maps of the kept classes as {name}.npz')
    parser.add_argument('--crf', action='store_true',
                        help='dense-CRF post-processing (needs `pip install pydensecrf2`)')
    parser.add_argument('--overwrite', action='store_true',
                        help='regenerate a folder written with other settings (checkpoint, '
                        'threshold, map settings, CRF, precision) instead of refusing')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision (mmengine autocast: bfloat16 on a CPU, float16 with '
                        'CUDA), as tools/run_pipeline.py --amp on a CPU; recorded in the folder')
    add_common_args(parser)
    return parse_with_local_rank(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    result = make_pseudo_labels(cfg, args.checkpoint, out_dir=args.out, split=args.split,
                                bg_threshold=args.bg_threshold, save_logits=args.save_logits,
                                crf=dict() if args.crf else None, overwrite=args.overwrite,
                                fp16=args.amp)
    print(json.dumps(result))
    return result


if __name__ == '__main__':
    main()
    close_process_group()
