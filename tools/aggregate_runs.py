"""Mean ± std of the pipeline's results over several runs (e.g. seeds), per-run numbers kept.

    python tools/aggregate_runs.py work_dirs/voc_seed0 work_dirs/voc_seed1 work_dirs/voc_seed2 \
        --out work_dirs/voc_seeds

Writes OUT/results.md and OUT/results.json
(:func:`mmseg_mctformer.pipeline.write_aggregate`).
``tools/run_pipeline.py --seeds 0 1 2`` runs the pipeline once a seed and calls the same.
"""
import argparse

from mmseg_mctformer.pipeline import write_aggregate


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Aggregate tools/run_pipeline.py work dirs')
    parser.add_argument('work_dirs', nargs='+', help='pipeline work dirs, one a run')
    parser.add_argument('--out', required=True,
                        help='folder of the aggregated results.md / results.json')
    parser.add_argument('--config', help="the runs' stage-1 config (a VOC one adds the paper's "
                        'numbers)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    return write_aggregate(args.work_dirs, args.out, args.config)


if __name__ == '__main__':
    main()
