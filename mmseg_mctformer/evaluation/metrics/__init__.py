from .multilabel_map import MultiLabelMAPMetric
from .pxap_metric import PxAPMetric
from .seed_metric import (
    DEFAULT_THRESHOLDS,
    SeedMetric,
    stacked_intersect_and_union,
    summarize_areas,
    threshold_seg_logits,
)

__all__ = [
    'DEFAULT_THRESHOLDS', 'MultiLabelMAPMetric', 'SeedMetric', 'stacked_intersect_and_union',
    'summarize_areas', 'threshold_seg_logits', 'PxAPMetric'
]
