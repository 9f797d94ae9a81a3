# Entry point: MCTformer+ on VOC 2012 aug, the authors' recipe (see the fully named config).
_base_ = ['./mctformer/mctformer-plus_deit-s_1xb32-45e_voc12aug-448x448.py']
