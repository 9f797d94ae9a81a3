from .map_visualizer import LocalizationMapVisualizer

__all__ = ['LocalizationMapVisualizer']
