"""Offline converters of public annotations into the layout the WSSS datasets read.

Imported by ``tools/dataset_converters/*.py``; not imported by ``mmseg_mctformer.datasets`` (they
need optional packages such as ``pycocotools``).
"""
