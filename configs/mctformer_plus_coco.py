# Entry point: MCTformer+ on MS COCO 2014.
_base_ = ['./mctformer-plus_deit-s_1xb64-60e_coco2014-448x448.py']
