from .mask_dir import evaluate_mask_dir
from .metrics import (
    DEFAULT_THRESHOLDS,
    CRFIoUMetric,
    MultiLabelMAPMetric,
    PseudoLabelMetric,
    PseudoMaskMetric,
    PxAPMetric,
    SeedMetric,
    SubmissionMetric,
    stacked_intersect_and_union,
    summarize_areas,
)

__all__ = [
    'CRFIoUMetric', 'DEFAULT_THRESHOLDS', 'MultiLabelMAPMetric', 'PseudoLabelMetric',
    'PseudoMaskMetric',
    'PxAPMetric', 'SeedMetric', 'SubmissionMetric', 'evaluate_mask_dir',
    'stacked_intersect_and_union',
    'summarize_areas'
]
