"""Compile: backends for Neuron (the real SDK) and the CPU stand-in (ONNX + onnxruntime)."""
