"""Which top-level names a file imports from its own project, not from an installed package.

Porting the package that provides the kernels (flash-attn's own `flash_attn/`, triton's own
`triton/`) must not treat its internal imports (`from flash_attn.utils import x` inside
`flash_attn/`) as the CUDA-only package: guarding them would hide real import errors. A name is the
project's own when Python would find it in the project: the file sits inside a package of that name,
or a folder above the file (up to the project root: the first folder holding `.git`,
`pyproject.toml`, `setup.py` or `setup.cfg`) holds that package (`R/__init__.py`, `src/R/__init__.py`)
or module (`R.py`). Static: the file system is read, no code is run.
"""

from __future__ import annotations

import os
from functools import lru_cache

PROJECT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg")


@lru_cache(maxsize=1024)
def _folders(directory: str) -> tuple[str, ...]:
    """The folder and its parents up to the project root (inclusive), or to the file system's root."""
    folders = []
    current = os.path.abspath(directory or ".")
    while True:
        folders.append(current)
        if any(os.path.exists(os.path.join(current, marker)) for marker in PROJECT_MARKERS):
            break
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return tuple(folders)


@lru_cache(maxsize=8192)
def _own_in(directory: str, root: str) -> bool:
    for folder in _folders(directory):
        if os.path.basename(folder) == root and os.path.isfile(os.path.join(folder, "__init__.py")):
            return True  # the file is inside package `root`
        for candidate in (os.path.join(folder, root, "__init__.py"), os.path.join(folder, "src", root, "__init__.py"),
                          os.path.join(folder, root + ".py")):
            if os.path.isfile(candidate):
                return True
    return False


def is_own_module(qualname: str, path: str) -> bool:
    """Does `qualname` (`flash_attn.utils.x`) come from the project `path` belongs to?"""
    root = qualname.split(".", 1)[0]
    if not root or not root.isidentifier():
        return False
    return _own_in(os.path.dirname(path), root)
