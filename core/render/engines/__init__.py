"""Swap engines: classical (warp of a source photo) and neural (ONNX swappers)."""
