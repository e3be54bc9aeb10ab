"""NKI kernel sources (NKI 0.6 API: ``import nki``, ``nki.language as nl``, ``nki.isa as nisa``).

Every module in this package imports ``nki`` at import time, so import them only when a kernel is about to run:
the torch-facing modules one level up do that lazily. The code here is plain NKI: it runs unchanged on a
NeuronCore through ``@nki.jit`` and on CPU through ``nki.simulate`` (the Neuron SDK's or porter's simulator).

Conventions shared by all kernels:

* kernel inputs are HBM tensors already flattened by the torch-side launcher to the layout the kernel documents
  (rows on the partition axis, at most ``PMAX`` = 128 per tile; ragged last tiles are sliced, never padded);
* outputs are allocated with ``nl.ndarray(..., buffer=nl.shared_hbm)`` and returned;
* arithmetic runs in fp32 on chip (the engines compute in fp32 and cast on write); matmul operands keep the input
  dtype (bf16 or fp32) and accumulate in fp32 PSUM.
"""
