# Entry point: MCTformer+ on VOC 2012 aug (see the fully named config for the recipe).
_base_ = ['./mctformer-plus_deit-s_1xb64-60e_voc12aug-448x448.py']
