"""Loading transforms for weakly supervised semantic segmentation."""
import logging
from typing import Optional

import mmcv
import mmengine.fileio as fileio
from mmcv.transforms import BaseTransform
from mmcv.transforms import LoadImageFromFile as _LoadImageFromFile
from mmengine.logging import print_log
from mmseg.registry import TRANSFORMS

from ...utils.console import captured_c_stderr
from ..utils import as_label_list, labels_from_mask, read_mask

_JPEG_SOI, _JPEG_EOI = b'\xff\xd8', b'\xff\xd9'


@TRANSFORMS.register_module()
class LoadCheckedImageFromFile(_LoadImageFromFile):
    """``LoadImageFromFile`` that fails with an error naming the file on bad images.

    Raises ``FileNotFoundError`` for a missing file and ``OSError`` for an empty file, a JPEG
    without its end-of-image marker (truncated; OpenCV would silently decode it partially) or
    bytes that do not decode. With ``ignore_empty=True`` such images return ``None`` instead
    (the dataset then draws another sample in training). A JPEG whose decoder reports corrupt
    data (libjpeg's ``Corrupt JPEG data: ...``, which names no file; the image decodes with wrong
    pixels) is logged as a warning that names the file, or refused with ``corrupt='error'``.

    Required keys: ``img_path``. Added keys: ``img``, ``img_shape``, ``ori_shape``.

    Args:
        check_truncated (bool): Reject JPEGs that do not end with the end-of-image marker.
            Default: True.
        corrupt (str): What a JPEG decoder message does: ``'warn'`` (a warning naming the file
            and quoting the message) or ``'error'`` (``OSError``; ``None`` with
            ``ignore_empty``). Default: ``'warn'``.
        **kwargs: Arguments of :class:`mmcv.transforms.LoadImageFromFile` (``to_float32``,
            ``color_type``, ``imdecode_backend``, ``ignore_empty``, ``backend_args``).
    """

    def __init__(self, check_truncated: bool = True, corrupt: str = 'warn', **kwargs) -> None:
        super().__init__(**kwargs)
        if corrupt not in ('warn', 'error'):
            raise ValueError(f"LoadCheckedImageFromFile: corrupt must be 'warn' or 'error', got "
                             f'{corrupt!r}')
        self.check_truncated = check_truncated
        self.corrupt = corrupt

    def _fail(self, exc_type, msg: str):
        if self.ignore_empty:
            return None
        raise exc_type(msg)

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']`` (see the class docstring)."""
        filename = results['img_path']
        try:
            img_bytes = fileio.get(filename, backend_args=self.backend_args)
        except FileNotFoundError:
            return self._fail(FileNotFoundError, f'Image file {filename} does not exist')
        if not img_bytes:
            return self._fail(OSError, f'Image file {filename} is empty (0 bytes)')
        if (self.check_truncated and img_bytes[:2] == _JPEG_SOI
                and not img_bytes.rstrip(b'\x00\r\n ').endswith(_JPEG_EOI)):
            return self._fail(OSError, f'Image file {filename} is a truncated JPEG (no '
                              'end-of-image marker)')
        is_jpeg = img_bytes[:2] == _JPEG_SOI
        messages = ['']
        try:
            if is_jpeg:
                with captured_c_stderr() as messages:
                    img = mmcv.imfrombytes(img_bytes, flag=self.color_type,
                                           backend=self.imdecode_backend)
            else:
                img = mmcv.imfrombytes(img_bytes, flag=self.color_type,
                                       backend=self.imdecode_backend)
        except Exception as err:  # decoders raise many types; re-raise naming the file
            if self.ignore_empty:
                return None
            raise OSError(f'Image file {filename} cannot be decoded: {err}') from err
        message = ' '.join(messages[0].split())
        if message:
            text = f'Image file {filename}: the JPEG decoder reported "{message}"'
            if self.corrupt == 'error':
                return self._fail(OSError, text + ' (corrupt data)')
            print_log(text + ' (corrupt data: the image decodes with wrong pixels)',
                      logger='current', level=logging.WARNING)
        if img is None:
            return self._fail(OSError, f'Image file {filename} cannot be decoded (corrupt or '
                              'not an image)')
        if self.to_float32:
            img = img.astype('float32')
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + (f', check_truncated={self.check_truncated}, '
                                          f'corrupt={self.corrupt!r})')


@TRANSFORMS.register_module()
class LoadImageLevelLabels(BaseTransform):
    """Derive image-level labels from the mask when the data info does not carry them.

    The datasets of this package already put ``gt_class_labels`` in every data info; this
    transform is for datasets that do not. Labels are the foreground classes present in
    ``results['gt_seg_map']`` (if a ``LoadAnnotations`` ran before) or in the mask file
    ``results['seg_map_path']``: value ``v`` in ``1..C`` -> label ``v - 1``.

    Required keys: ``gt_seg_map`` or ``seg_map_path``. Added keys: ``gt_class_labels``
    (sorted list of int).

    Args:
        num_classes (int): Number of foreground classes ``C``.
        ignore_index (int): Mask value of unlabelled pixels. Default: 255.
        overwrite (bool): Re-derive the labels even if present. Default: False.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, overwrite: bool = False):
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'LoadImageLevelLabels: num_classes must be a positive int, got '
                             f'{num_classes!r}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.overwrite = overwrite

    def transform(self, results: dict) -> dict:
        """Add ``results['gt_class_labels']`` (see the class docstring)."""
        if results.get('gt_class_labels') is not None and not self.overwrite:
            results['gt_class_labels'] = as_label_list(results['gt_class_labels'])
            return results
        if 'gt_seg_map' in results:
            mask = results['gt_seg_map']
            name = results.get('seg_map_path') or results.get('img_path', '<gt_seg_map>')
        elif results.get('seg_map_path'):
            name = results['seg_map_path']
            mask = read_mask(name)
        else:
            raise KeyError(f'LoadImageLevelLabels: {results.get("img_path")} has neither '
                           'gt_class_labels nor a mask (gt_seg_map / seg_map_path)')
        results['gt_class_labels'] = labels_from_mask(mask, self.num_classes, self.ignore_index,
                                                      name)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index}, overwrite={self.overwrite})')
