# Entry point: the MCTformer (V2) baseline on VOC 2012 aug, the authors' V2 recipe.
_base_ = ['./mctformer/mctformer-v2_deit-s_1xb64-60e_voc12aug-224x224.py']
