"""The numbers of the model index (``configs/mctformer/metafile.yaml``), as the package installs it.

The metafile is shipped as ``mmseg_mctformer/.mim/configs/mctformer/metafile.yaml`` (in the
repository ``.mim/configs`` links to ``configs/``), the folder mmengine reads the
``mmseg_mctformer::`` configs from.
"""
import os.path as osp
from typing import Dict, Iterable, Optional

import yaml

#: The installed metafile of the stage-1 configs.
METAFILE = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim', 'configs',
                    'mctformer', 'metafile.yaml')


def read_metafile_metrics(model: str, keys: Iterable[str],
                          metafile: Optional[str] = None) -> Dict[str, float]:
    """The ``Metrics`` of one ``Models`` entry of a metafile, over all its ``Results``.

    Args:
        model (str): The entry's ``Name`` (its config's name without ``.py``).
        keys (Iterable[str]): The metric names to read, e.g. ``'seed/train/mIoU'``.
        metafile (str, optional): The metafile. Default: None, which means :data:`METAFILE`.

    Returns:
        dict: ``{key: value}`` for every one of ``keys``.

    Raises:
        KeyError: naming the file, the model and the key, when the entry or a metric is missing.
    """
    metafile, keys = metafile or METAFILE, list(keys)
    with open(metafile) as f:
        meta = yaml.safe_load(f)
    entries = [m for m in meta.get('Models') or [] if m.get('Name') == model]
    if not entries:
        raise KeyError(f'{metafile}: no Models entry named {model!r}')
    metrics = {}
    for result in entries[0].get('Results') or []:
        metrics.update(result.get('Metrics') or {})
    missing = [k for k in keys if k not in metrics]
    if missing:
        raise KeyError(f'{metafile}: Models entry {model!r} has no Results metric {missing[0]!r} '
                       f'(it has {sorted(metrics)})')
    return {k: metrics[k] for k in keys}
