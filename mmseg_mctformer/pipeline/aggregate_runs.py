"""Mean and standard deviation of the pipeline's results over several runs (seeds, machines).

WSSS results vary from run to run by about a point; one run per number hides it. Each run is a
``tools/run_pipeline.py`` work dir; its rows are
:meth:`~mmseg_mctformer.pipeline.WSSSPipeline.table` of its ``pipeline_state.json``, and every
row becomes ``mean ± std`` over the runs that measured it, the per-run numbers kept beside it.
"""
import json
import math
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.dist import is_main_process

from ..utils.io import atomic_write_text
from .pipeline import WSSSPipeline

#: Files written by :func:`write_aggregate`.
AGGREGATE_FILES = ('results.md', 'results.json')


def run_rows(work_dir: str, config: Optional[str] = None) -> List[dict]:
    """The results rows (:meth:`WSSSPipeline.table`) of one pipeline work dir; the paper's numbers
    only when the stage-1 ``config`` is given and trains on VOC."""
    state_file = osp.join(work_dir, 'pipeline_state.json')
    if not osp.isfile(state_file):
        raise FileNotFoundError(f'aggregate_runs: {work_dir} has no pipeline_state.json; '
                                'expected the --work-dir of a tools/run_pipeline.py run')
    return WSSSPipeline(config, None, work_dir).table()


def aggregate_runs(work_dirs: Sequence[str], config: Optional[str] = None) -> dict:
    """Aggregate the results rows of several runs.

    Args:
        work_dirs (Sequence[str]): Pipeline work dirs (one a run).
        config (str, optional): Their stage-1 config; a VOC one adds the paper's numbers.
            Default: None.

    Returns:
        dict: ``runs`` (the work dirs) and ``rows``: per metric ``key``, ``metric``, ``name``
        (split-named, e.g. ``seed/val/mIoU``), ``values`` (one a run, None where a run has no
        number), ``n``, ``mean``, ``std`` (sample standard deviation, ``n - 1``; None for
        n < 2) and ``paper_voc``.

    Raises:
        ValueError: Fewer than one run, or a metric measured on different splits in two runs.
    """
    if not work_dirs:
        raise ValueError('aggregate_runs: no work dirs given, expected one or more')
    per_run = [{r['key']: r for r in run_rows(d, config)} for d in work_dirs]
    keys = []
    for rows in per_run:
        keys += [k for k in rows if k not in keys]
    aggregated = []
    for key in keys:
        rows = [run.get(key) for run in per_run]
        names = {r.get('name') for r in rows if r is not None and r.get('name')}
        if len(names) > 1:
            raise ValueError(f'aggregate_runs: {key} was measured on different splits: '
                             f'{sorted(names)} in {list(work_dirs)}')
        values = [None if r is None else r['ours'] for r in rows]
        numbers = [v for v in values if v is not None]
        mean = sum(numbers) / len(numbers) if numbers else None
        std = math.sqrt(sum((v - mean) ** 2 for v in numbers) / (len(numbers) - 1)) \
            if len(numbers) > 1 else None
        first = next(r for r in rows if r is not None)
        aggregated.append(dict(key=key, metric=first['metric'], name=names.pop() if names
                               else None, values=values, n=len(numbers), mean=mean, std=std,
                               paper_voc=first.get('paper_voc'),
                               paper_split=first.get('paper_split')))
    return dict(runs=[osp.abspath(d) for d in work_dirs], rows=aggregated)


def format_aggregate(summary: dict) -> str:
    """Markdown table of :func:`aggregate_runs`: ``mean ± std (n)``, then one column a run."""
    def fmt(v):
        return '-' if v is None else f'{v:.1f}'
    runs = summary['runs']
    paper_column = any(r['paper_voc'] is not None for r in summary['rows'])
    head = '| metric | name | mean ± std (runs) | ' + ' | '.join(
        f'run {i}' for i in range(len(runs))) + (' | paper (VOC) |' if paper_column else ' |')
    lines = [head, '| --- | --- | ---: | ' + '---: | ' * (len(runs) + paper_column)]
    for r in summary['rows']:
        spread = fmt(r['mean']) + ('' if r['std'] is None else f" ± {r['std']:.1f}")
        paper = fmt(r['paper_voc']) + (f" ({r['paper_split']})" if r.get('paper_split') and
                                       r['paper_voc'] is not None else '')
        lines.append(f"| {r['metric']} | {r['name'] or '-'} | {spread} ({r['n']}) | "
                     + ' | '.join(fmt(v) for v in r['values'])
                     + (f' | {paper} |' if paper_column else ' |'))
    lines.append('')
    lines += [f'run {i}: {d}' for i, d in enumerate(runs)]
    return '\n'.join(lines)


def write_aggregate(work_dirs: Sequence[str], out_dir: str, config: Optional[str] = None) -> dict:
    """:func:`aggregate_runs`, written to ``{out_dir}/results.md`` and ``results.json`` (by the
    main process)."""
    summary = aggregate_runs(work_dirs, config)
    if is_main_process():
        text = format_aggregate(summary)
        atomic_write_text(osp.join(out_dir, 'results.md'), text + '\n')
        atomic_write_text(osp.join(out_dir, 'results.json'), json.dumps(summary, indent=2))
        print(text, flush=True)
    return summary
