"""Shim for ``mamba_ssm.ops``."""
