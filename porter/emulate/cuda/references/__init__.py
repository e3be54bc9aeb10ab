"""Plain-PyTorch stand-ins for fused CUDA libraries, written from each library's documented semantics.

They are references (slow, readable, fp32 inside), independent of porter's NKI kernels: they import
only torch. `porter.emulate.cuda.fused_hooks` serves them as `flash_attn`, `xformers`, `apex`,
`liger_kernel`, `mamba_ssm` and `causal_conv1d` when those packages are not installed.
"""
