# Entry point: MCTformer+ on MS COCO 2014, the authors' recipe (see the fully named config).
_base_ = ['./mctformer/mctformer-plus_deit-s_1xb32-45e_coco2014-448x448.py']
