"""porter's NKI kernel library: NKI kernels, PyTorch references and dispatching torch functions."""
