from .crf_iou_metric import CRFIoUMetric
from .multilabel_map import MultiLabelMAPMetric
from .pseudo_label_metric import PseudoLabelMetric
from .pseudo_mask_metric import PseudoMaskMetric
from .pxap_metric import PxAPMetric
from .seed_metric import (
    DEFAULT_THRESHOLDS,
    SeedMetric,
    stacked_intersect_and_union,
    summarize_areas,
)
from .submission_metric import SubmissionMetric

__all__ = [
    'CRFIoUMetric', 'DEFAULT_THRESHOLDS', 'MultiLabelMAPMetric', 'PseudoLabelMetric',
    'PseudoMaskMetric',
    'PxAPMetric', 'SeedMetric', 'SubmissionMetric', 'stacked_intersect_and_union',
    'summarize_areas'
]
