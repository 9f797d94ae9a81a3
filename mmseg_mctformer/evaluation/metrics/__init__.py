from .crf_iou_metric import CRFIoUMetric
from .multilabel_map import MultiLabelMAPMetric
from .pseudo_label_metric import (
    PseudoLabelMetric,
    check_pseudo_label_dir,
    default_palette,
    image_size,
    is_valid_label_png,
    pending_indices,
    save_label_png,
)
from .pseudo_mask_metric import PseudoMaskMetric
from .pxap_metric import PxAPMetric
from .seed_metric import (
    DEFAULT_THRESHOLDS,
    SeedMetric,
    stacked_intersect_and_union,
    summarize_areas,
    threshold_seg_logits,
)
from .submission_metric import SubmissionMetric

__all__ = [
    'CRFIoUMetric', 'DEFAULT_THRESHOLDS', 'MultiLabelMAPMetric', 'PseudoLabelMetric',
    'PseudoMaskMetric',
    'PxAPMetric', 'SeedMetric', 'SubmissionMetric', 'check_pseudo_label_dir', 'default_palette',
    'image_size',
    'is_valid_label_png', 'pending_indices', 'save_label_png', 'stacked_intersect_and_union',
    'summarize_areas', 'threshold_seg_logits'
]
