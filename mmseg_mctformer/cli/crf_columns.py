"""A segmentor's test mIoU with and without dense CRF, at one scale and at multi-scale + flip.

The two-by-two table WSSS papers report (``tools/test.py --crf [--tta]``): each setting is one
``Runner.test()`` with :func:`~mmseg_mctformer.cli.configure_crf`.
"""
import copy
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.logging import print_log

from ..engine.runner import build_runner
from ..utils import check_checkpoint_file
from ..utils.io import atomic_write_text
from .tool_flags import configure_crf, configure_test

#: File of the table in the work dir.
CRF_TABLE_FILE = 'crf_columns.md'


def test_crf_columns(cfg, crf=None, tta=False, **test_kwargs):
    """Run the test split with and without CRF; with ``tta`` also at multi-scale + flip.

    Args:
        cfg (Config): The segmentor config (``load_from`` set); not changed.
        crf (dict, optional): See :func:`~mmseg_mctformer.cli.configure_crf`. Default: None.
        tta (bool): Add the multi-scale + flip run (the config's ``tta_pipeline`` /
            ``tta_model``). Default: False.
        **test_kwargs: Further arguments of :func:`~mmseg_mctformer.cli.configure_test`.

    Returns:
        dict: ``{'single scale': metrics, 'multi-scale + flip': metrics}`` (the second with
        ``tta``); each ``metrics`` has ``mIoU`` and ``crf/mIoU``. The table
        (:func:`format_crf_columns`) is logged and written to ``{work_dir}/crf_columns.md``.
    """
    settings = [('single scale', False)] + ([('multi-scale + flip', True)] if tta else [])
    results = {}
    for name, use_tta in settings:
        run_cfg = copy.deepcopy(cfg)
        configure_test(run_cfg, tta=use_tta, **test_kwargs)
        configure_crf(run_cfg, crf)
        runner = build_runner(run_cfg)
        # mmengine loads with strict=False: refuse a checkpoint of another architecture
        check_checkpoint_file(runner.model, run_cfg.load_from)
        results[name] = runner.test()
    text = format_crf_columns(results)
    print_log('test mIoU with and without dense CRF:\n' + text, logger='current')
    if is_main_process():
        os.makedirs(cfg.work_dir, exist_ok=True)
        atomic_write_text(osp.join(cfg.work_dir, CRF_TABLE_FILE), text + '\n')
    return results


def format_crf_columns(results):
    """Markdown table ``| test | mIoU | mIoU + CRF |`` of :func:`test_crf_columns` results."""
    lines = ['| test | mIoU | mIoU + CRF |', '| --- | ---: | ---: |']
    lines += [f"| {name} | {m['mIoU']:.2f} | {m['crf/mIoU']:.2f} |" for name, m in results.items()]
    return '\n'.join(lines)
