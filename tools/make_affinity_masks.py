"""Write the random-walk masks of the affinity stage (PSA) as palette PNGs and score them.

The images are the affinity config's ``test_dataloader`` (the training split); ``--maps-dir``
points its ``LoadLocalizationMaps`` at the stage-1 maps (``tools/make_pseudo_labels.py
--save-logits``). A rerun writes only the missing masks; with ``--launcher pytorch|slurm`` every
rank writes its share. The folder's ``affinity_mask_info.json`` records what produced it
(checkpoint, maps, threshold, random-walk settings, precision); a rerun with other settings is
refused unless ``--overwrite`` is given. Example::

    python tools/make_affinity_masks.py \\
        configs/affinity/affinitynet_r101-v1c_1xb8-5e_voc12aug-448x448.py \\
        work_dirs/voc_pipeline/affinity/epoch_5.pth \\
        --maps-dir work_dirs/voc_pipeline/pseudo_labels --out work_dirs/voc_pipeline/masks
"""
import argparse
import json

import mmseg_mctformer  # noqa: F401  (registers the plugin and the ``mmseg::`` config scope)
from mmseg_mctformer.cli import (
    add_common_args,
    make_affinity_masks,
    parse_with_local_rank,
    set_maps_dir,
)
from mmseg_mctformer.engine.runner import close_process_group, load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Random-walk masks of the affinity stage')
    parser.add_argument('config', help='affinity config (configs/affinity/)')
    parser.add_argument('checkpoint', help='AffinityNet checkpoint')
    parser.add_argument('--maps-dir', help='folder of the stage-1 maps ({name}.npz); default: '
                        'the one in the config')
    parser.add_argument('--out', required=True, help='output folder of the masks')
    parser.add_argument('--bg-threshold', type=float,
                        help='background score (default: the model\'s test_cfg.bg_threshold)')
    parser.add_argument('--no-eval', action='store_true', help='do not score the masks')
    parser.add_argument('--overwrite', action='store_true',
                        help='regenerate a folder written with other settings (checkpoint, maps, '
                        'threshold, random-walk settings, precision) instead of refusing')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision (mmengine autocast: bfloat16 on a CPU, float16 with '
                        'CUDA), as tools/run_pipeline.py --amp on a CPU; recorded in the folder')
    add_common_args(parser)
    return parse_with_local_rank(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.maps_dir:
        set_maps_dir(cfg, args.maps_dir)
    result = make_affinity_masks(cfg, args.checkpoint, args.out, bg_threshold=args.bg_threshold,
                                 evaluate=not args.no_eval, overwrite=args.overwrite,
                                 fp16=args.amp)
    print(json.dumps({k: v for k, v in result.items() if k != 'IoU_per_class'}))


if __name__ == '__main__':
    main()
    close_process_group()
