"""Triton -> NKI: translate ``@triton.jit`` kernels into NKI kernels and verify them against the original.

``translate_file`` / ``translate_source`` are static (``ast`` only). ``porter.translate.triton.verify`` runs the
original in Triton's interpreter and the translation in porter's NKI simulator (it imports torch and triton).
"""

from .translate import RULE, FileTranslation, KernelTranslation, nki_path_for, translate_file, translate_source

__all__ = ["RULE", "FileTranslation", "KernelTranslation", "nki_path_for", "translate_file", "translate_source"]
