"""The segmentor's class count against stage 1's.

Stage 1 learns C foreground classes; its pseudo-masks hold the labels 0 (background) to C, so
the segmentor trained on them predicts C + 1 classes. A segmentor config written for another
dataset (the demo's 7 = 1 + 6, VOC's 21) fails only inside its loss, on the first mask with a
label above its count, after stage 1 has trained. :func:`check_seg_num_classes` compares the two
configs before any stage runs and names the key to change.
"""
from typing import List, Optional

from ..engine.runner import TOP_LEVEL_VARIABLES

#: The modules of ``model`` where a stage-1 config states its number of foreground classes (those
#: the top-level ``num_classes`` sets), first found wins.
STAGE1_CLASS_KEYS = tuple(key.split('.')[1] for key in TOP_LEVEL_VARIABLES['num_classes'])
#: The heads of an MMSeg segmentor config whose ``num_classes`` counts the background too.
SEG_HEAD_KEYS = ('decode_head', 'auxiliary_head')


def stage1_num_classes(cfg) -> Optional[int]:
    """C, the foreground classes of a stage-1 config (``model.backbone.num_classes``, else a
    head's), or None where the config states none."""
    model = cfg.get('model') or {}
    for key in STAGE1_CLASS_KEYS:
        node = model.get(key)
        if isinstance(node, dict) and node.get('num_classes') is not None:
            return int(node['num_classes'])
    return None


def seg_head_num_classes(cfg) -> List[tuple]:
    """``(key, num_classes)`` of every head of a segmentor config that states a class count,
    e.g. ``[('model.decode_head.num_classes', 7)]``; a list of heads gives ``decode_head.0``..."""
    model = cfg.get('model') or {}
    found = []
    for key in SEG_HEAD_KEYS:
        heads = model.get(key)
        if isinstance(heads, dict):
            heads = {f'model.{key}': heads}
        elif isinstance(heads, (list, tuple)):
            heads = {f'model.{key}.{i}': head for i, head in enumerate(heads)}
        else:
            continue
        for name, head in heads.items():
            if isinstance(head, dict) and head.get('num_classes') is not None:
                found.append((f'{name}.num_classes', int(head['num_classes'])))
    return found


def check_seg_num_classes(seg_cfg, num_classes: Optional[int], seg_config: str,
                          cls_config: str) -> None:
    """Check that each head of the segmentor predicts background + the stage-1 classes.

    Args:
        seg_cfg (mmengine.Config): The segmentor config, command-line overrides applied.
        num_classes (int, optional): C of stage 1 (:func:`stage1_num_classes`); None skips.
        seg_config (str): The segmentor config's file, for the message.
        cls_config (str): The stage-1 config's file, for the message.

    Raises:
        ValueError: Naming the key, its value, the count it needs and the override.
    """
    if num_classes is None:
        return
    for key, value in seg_head_num_classes(seg_cfg):
        if value != num_classes + 1:
            raise ValueError(
                f'{seg_config}: {key} = {value}, but stage 1 ({cls_config}) learns {num_classes} '
                f'classes and its pseudo-masks hold background + {num_classes}: set '
                f'`--seg-cfg-options {key}={num_classes + 1}`')
