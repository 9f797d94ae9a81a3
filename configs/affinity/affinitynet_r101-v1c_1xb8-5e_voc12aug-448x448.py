# AffinityNet of the MCTformer+ mask stage on VOC 2012 aug (PSA recipe of the authors' run_psa.sh:
# labels from the maps with background powers 1 / 12 (+ dense CRF when pydensecrf is installed),
# crop 448, batch 8, 5 epochs, lr 0.01, random walk beta 8, logt 6); ResNet-101 V1c instead of
# ResNet-38. tools/run_pipeline.py --aff-config points every LoadLocalizationMaps at the maps it
# wrote; standalone: tools/train.py CONFIG --cfg-options train_dataloader.dataset.pipeline.1.maps_dir=DIR
# then tools/test.py CONFIG CKPT --cfg-options test_dataloader.dataset.pipeline.2.maps_dir=DIR
# test_evaluator.output_dir=OUT (writes the masks; resumable: cli.affinity_tools.make_affinity_masks).
_base_ = [
    '../_base_/models/affinitynet_r101-v1c.py',
    '../_base_/datasets/voc12aug_affinity.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_5e_sgd_poly_affinity.py',
]
randomness = dict(seed=0)
