"""Drawing of class localisation maps and seeds over the input image."""
from typing import List, Optional

import cv2
import mmcv
import numpy as np
from mmengine.structures import PixelData
from mmseg.registry import VISUALIZERS
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer

from ..models.utils.seed import kept_class_mask, seed_labels


@VISUALIZERS.register_module()
class LocalizationMapVisualizer(SegLocalVisualizer):
    """:class:`SegLocalVisualizer` that also draws the class maps of MCTformer predictions.

    :meth:`draw_maps` returns one RGB strip ``[image | seed overlay | GT overlay (if any) |
    heatmap of each kept class]``; the seed and GT panels are drawn by
    :class:`SegLocalVisualizer`, the heatmaps by :meth:`Visualizer.draw_featmap` with the class
    name written on them.

    Args:
        name (str): Instance name (mmengine's ``ManagerMixin``). Default: 'visualizer'.
        classes (list[str], optional): Class names, background first. Default: None.
        palette (list[list[int]], optional): RGB colour per class. Default: None.
        alpha (float): Opacity of the seed overlay. Default: 0.6.
        heatmap_alpha (float): Opacity of the heatmaps. Default: 0.5.
        **kwargs: Other arguments of :class:`SegLocalVisualizer` (``name``, ``vis_backends``,
            ``save_dir``, ...).
    """

    def __init__(self, name: str = 'visualizer', classes: Optional[List] = None,
                 palette: Optional[List] = None, alpha: float = 0.6, heatmap_alpha: float = 0.5,
                 **kwargs) -> None:
        super().__init__(name=name, classes=classes, palette=palette, alpha=alpha, **kwargs)
        # SegLocalVisualizer.__init__ passes (palette, classes) to set_dataset_meta(classes,
        # palette): set them again in the right order.
        self.set_dataset_meta(classes, palette, kwargs.get('dataset_name'))
        self.heatmap_alpha = heatmap_alpha

    def _heatmap(self, image: np.ndarray, class_map, name: str) -> np.ndarray:
        panel = self.draw_featmap(class_map[None].float(), image, channel_reduction='squeeze_mean',
                                  alpha=self.heatmap_alpha)
        scale = max(0.3, min(image.shape[:2]) / 300)
        return cv2.putText(np.ascontiguousarray(panel), name, (4, int(20 * scale) + 2),
                           cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)

    def draw_maps(self, image: np.ndarray, data_sample: SegDataSample,
                  max_maps: Optional[int] = None) -> np.ndarray:
        """Draw the prediction of one image.

        Args:
            image (np.ndarray): RGB image (H, W, 3), uint8, at the original size.
            data_sample (SegDataSample): Prediction of ``MCTformer.predict``: ``seg_logits``
                (C + 1, H, W; the maps are channels 1..C), ``kept_classes`` (C,) (all classes
                when absent) and ``pred_sem_seg`` (else made from ``bg_threshold`` by
                :func:`~mmseg_mctformer.models.utils.seed_labels`); ``gt_sem_seg`` is drawn when
                present.
            max_maps (int, optional): Draw at most this many maps of kept classes (highest peaks
                first). Default: None (all kept classes).

        Returns:
            np.ndarray: RGB strip (H, W * num_panels, 3), uint8.
        """
        classes, palette = self.dataset_meta.get('classes'), self.dataset_meta.get('palette')
        if classes is None or palette is None:
            raise ValueError('LocalizationMapVisualizer: set dataset_meta (classes and palette) '
                             'before drawing')
        if 'seg_logits' not in data_sample:
            raise KeyError('LocalizationMapVisualizer.draw_maps: the data sample has no seg_logits')
        maps = data_sample.seg_logits.data[1:].cpu()  # (C, H, W)
        if maps.shape[1:] != image.shape[:2]:
            raise ValueError(f'LocalizationMapVisualizer.draw_maps: maps of size '
                             f'{tuple(maps.shape[1:])} do not match the image {image.shape[:2]}')
        panels = [image]
        keep = kept_class_mask(data_sample.get('kept_classes'), maps.shape[0]).cpu()
        if 'pred_sem_seg' in data_sample:
            seed = data_sample.pred_sem_seg
        else:
            seed = PixelData(data=seed_labels(maps, float(data_sample.bg_threshold), keep)[None])
        panels.append(self._draw_sem_seg(image, seed, classes, palette))
        if 'gt_sem_seg' in data_sample:
            panels.append(self._draw_sem_seg(image, data_sample.gt_sem_seg, classes, palette))
        peaks = maps.flatten(1).max(1).values
        kept = [int(c) for c in peaks.argsort(descending=True) if keep[c]]
        for c in kept[:max_maps]:
            panels.append(self._heatmap(image, maps[c], str(classes[c + 1])))
        strip = np.concatenate(panels, axis=1)
        self.set_image(strip)
        return strip

    def add_maps(self, name: str, image: np.ndarray, data_sample: SegDataSample,
                 out_file: Optional[str] = None, step: int = 0,
                 max_maps: Optional[int] = None) -> np.ndarray:
        """Draw with :meth:`draw_maps`, then save to ``out_file`` or to the vis backends.

        Args:
            name (str): Image identifier for the backends.
            image (np.ndarray): RGB image (H, W, 3).
            data_sample (SegDataSample): The prediction.
            out_file (str, optional): Write the strip to this file instead of the backends.
                Default: None.
            step (int): Global step for the backends. Default: 0.
            max_maps (int, optional): See :meth:`draw_maps`. Default: None.

        Returns:
            np.ndarray: The drawn RGB strip.
        """
        strip = self.draw_maps(image, data_sample, max_maps)
        if out_file is not None:
            mmcv.imwrite(mmcv.rgb2bgr(strip), out_file)
        else:
            self.add_image(name, strip, step)
        return strip
