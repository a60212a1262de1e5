"""Resampling, windowing and the PyTorch datasets over canonical recordings."""
