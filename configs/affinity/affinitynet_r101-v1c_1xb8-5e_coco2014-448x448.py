# AffinityNet of the mask stage on COCO 2014 train: the VOC recipe (PSA, run_psa.sh values) with the
# COCO dataset; ResNet-101 V1c. The maps come from the COCO stage-1 model (--save-logits).
_base_ = ['./affinitynet_r101-v1c_1xb8-5e_voc12aug-448x448.py']
dataset_type = 'COCOWSSSDataset'
data_root = 'data/coco2014'
_prefix = dict(img_path='JPEGImages', seg_map_path='SegmentationClass')
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=_prefix,
                 ann_file='ImageSets/train.txt'))
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=_prefix,
                 ann_file='ImageSets/train.txt'))
