from .multilabel_map import MultiLabelMAPMetric
from .pseudo_mask_metric import PseudoMaskMetric
from .seed_metric import (
    DEFAULT_THRESHOLDS,
    SeedMetric,
    stacked_intersect_and_union,
    summarize_areas,
    threshold_seg_logits,
)

__all__ = [
    'DEFAULT_THRESHOLDS', 'MultiLabelMAPMetric', 'PseudoMaskMetric', 'SeedMetric',
    'stacked_intersect_and_union', 'summarize_areas', 'threshold_seg_logits'
]
