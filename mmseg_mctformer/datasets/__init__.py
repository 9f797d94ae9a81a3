from .coco import COCO_CLASSES, COCOWSSSDataset
from .demo import DemoWSSSDataset
from .demo_generator import DEMO_CLASSES, generate_demo_dataset, load_fashion_mnist
from .openimages_wsol import OpenImagesWSOLDataset, convert_seg_to_wsol, load_wsol_metadata
from .transforms import *  # noqa: F401,F403
from .transforms import __all__ as _transforms_all
from .utils import labels_from_mask, load_label_file, save_label_file
from .voc import VOCWSSSDataset
from .wsss_base import WSSSBaseDataset

__all__ = [
    'WSSSBaseDataset', 'VOCWSSSDataset', 'COCOWSSSDataset', 'DemoWSSSDataset', 'COCO_CLASSES',
    'DEMO_CLASSES', 'generate_demo_dataset', 'load_fashion_mnist', 'labels_from_mask',
    'load_label_file', 'save_label_file', 'OpenImagesWSOLDataset', 'convert_seg_to_wsol',
    'load_wsol_metadata'
] + list(_transforms_all)
