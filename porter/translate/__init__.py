"""Source-to-source kernel translation (static; verification imports torch, triton and the NKI runtime lazily)."""
