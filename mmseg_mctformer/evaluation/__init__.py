from .metrics import (
                      DEFAULT_THRESHOLDS,
                      MultiLabelMAPMetric,
                      SeedMetric,
                      stacked_intersect_and_union,
                      threshold_seg_logits,
)

__all__ = [
    'DEFAULT_THRESHOLDS', 'MultiLabelMAPMetric', 'SeedMetric', 'stacked_intersect_and_union',
    'threshold_seg_logits'
]
