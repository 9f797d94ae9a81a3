# MS COCO 2014 for WSSS (80 foreground classes; masks as PNG, 0 = background, 255 = ignore).
# Layout: data/coco2014/{JPEGImages, SegmentationClass, ImageSets/{train,val}.txt}.
# Everything else (DeiT augmentation, pipelines, loaders, metrics) is VOC's.
_base_ = ['./pascal_voc12_aug_wsss.py']
dataset_type = 'COCOWSSSDataset'
data_root = 'data/coco2014'
_prefix = dict(img_path='JPEGImages', seg_map_path='SegmentationClass')
train_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root, ann_file='ImageSets/train.txt', data_prefix=_prefix))
# seed mIoU on a 5,000-image subset of train keeps validation affordable; list it in train_5k.txt
# (the paper's seed numbers use the whole train set: tools/eval_seeds.py --split train)
val_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root, ann_file='ImageSets/train_5k.txt',
    data_prefix=_prefix))
test_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root, ann_file='ImageSets/val.txt',
    data_prefix=_prefix))
pseudo_label_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root, ann_file='ImageSets/train.txt',
    data_prefix=_prefix))
