"""Importing a project's entrypoints (`pkg.module:function`) from its own root, and calling them.

Shared by every part that runs a user's model (trace, compile, parity, training parity): the
reference and the candidate of a parity check are the same module names under two roots, so each
root is imported in isolation from the other.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import sysconfig
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from porter.graph.entrypoints import EntrypointError, normalise_inputs


def _installed(path: str) -> bool:
    """A file of an installed library or of the standard library: `torchvision.models:resnet18` is
    a fine factory, and the same for reference and candidate by nature."""
    return any(_under(path, root) for root in _library_roots())


@functools.lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(str(Path(paths[key]).resolve()) for key in ("purelib", "platlib", "stdlib") if paths.get(key))


def _under(path: str, root: str) -> bool:
    """True when `path` is `root` or inside it (a sibling like root + "2" is not)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def module_origins(module: Any) -> list[str]:
    """Where a module was loaded from: its file, or a namespace package's directories; [] for a
    built-in or frozen module."""
    origin = getattr(module, "__file__", None)
    if origin:
        return [os.path.abspath(origin)]
    return [os.path.abspath(p) for p in getattr(module, "__path__", None) or []]


class ProjectLoader:
    """Imports entrypoints from one project root, isolated from another root's same-named modules.

    Every root a loader was opened on in this process is remembered; a module belongs to the most
    specific of them that holds its file (a ported tree inside the original project is a root of
    its own). While the root is on the path, a module the project defines (a `name.py` or `name/`
    under the root) that is already imported from elsewhere, and any module that belongs to
    another root (the reference's `model` when the candidate is loaded), is set aside and put back
    afterwards; what the root's own modules imported is forgotten on exit. An entrypoint's module
    must come from the root: one found anywhere else on the path is an error, never a stand-in.
    """

    _roots: set[str] = set()  # every root a loader was opened on, in this process

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        if not self.root.exists():
            raise EntrypointError(f"project root {root} does not exist")
        if not self.root.is_dir():
            raise EntrypointError(f"project root {root} is not a directory")
        self._set_aside: dict[str, Any] = {}

    def owns(self, path: str) -> bool:
        """True when `path` belongs to this root: inside it, and not inside another known root
        that is itself inside this one."""
        root = str(self.root)
        if not _under(path, root):
            return False
        return not any(other != root and _under(other, root) and _under(path, other) for other in self._roots)

    def _foreign(self, module: Any) -> bool:
        """True when the module was loaded from somewhere other than this root (a built-in or
        frozen module, with no file, is nobody's and stays)."""
        origins = module_origins(module)
        return bool(origins) and not any(self.owns(o) or _installed(o) for o in origins)

    def _shadowed(self) -> dict[str, Any]:
        root = str(self.root)
        local = {p.stem if p.suffix == ".py" else p.name for p in self.root.iterdir()
                 if (p.suffix == ".py" and p.is_file()) or (p.is_dir() and p.name.isidentifier())}
        # str.startswith with a tuple: one C call per module, however many roots are known
        other_roots = tuple(r.rstrip(os.sep) + os.sep for r in self._roots if r != root)
        found = {}
        for name, module in list(sys.modules.items()):
            origins = module_origins(module)
            if not origins or any(self.owns(o) for o in origins):
                continue
            # a same-named module from elsewhere, or any module of another project root
            if name.split(".")[0] in local or any(o.startswith(other_roots) for o in origins):
                found[name] = module
        return found

    def __enter__(self) -> ProjectLoader:
        ProjectLoader._roots.add(str(self.root))
        self._saved_path = list(sys.path)
        self._set_aside = self._shadowed()
        for name in self._set_aside:
            del sys.modules[name]
        self._saved_modules = dict(sys.modules)
        sys.path.insert(0, str(self.root))
        importlib.invalidate_caches()
        return self

    def __exit__(self, *exc) -> None:
        sys.path[:] = self._saved_path
        for name, module in list(sys.modules.items()):
            if self._saved_modules.get(name) is not module and any(self.owns(o) for o in module_origins(module)):
                del sys.modules[name]
        for name, module in self._set_aside.items():
            sys.modules.setdefault(name, module)

    def resolve(self, reference: str) -> Callable[..., Any]:
        module_name, _, attr = reference.partition(":")
        if not module_name or not attr:
            raise EntrypointError(f"{reference!r}: expected pkg.module:function")
        # The module or a parent package cached from elsewhere would be returned as is: set it aside.
        parts = module_name.split(".")
        for name in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
            cached = sys.modules.get(name)
            if cached is not None and self._foreign(cached):
                self._set_aside.setdefault(name, cached)
                del sys.modules[name]
        before = set(sys.modules)
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise EntrypointError(f"{reference}: cannot import {module_name} from {self.root}: {exc}") from exc
        origins = module_origins(target)
        if not any(self.owns(o) or _installed(o) for o in origins):
            # refused: forget what this import brought in, so it cannot serve a later root either
            for name in set(sys.modules) - before:
                if any(not _installed(o) for o in module_origins(sys.modules[name])):
                    del sys.modules[name]
            where = ", ".join(origins) if origins else "built into Python"
            raise EntrypointError(f"{reference}: module {module_name} was imported from {where}, not from the "
                                  f"project root {self.root}")
        for part in attr.split("."):
            if not hasattr(target, part):
                raise EntrypointError(f"{reference}: {module_name} has no attribute {attr}")
            target = getattr(target, part)
        if not callable(target):
            raise EntrypointError(f"{reference}: not callable")
        return target


def build(root: Path, factory: str, seed: int) -> Any:
    """The model the factory returns, in eval mode, built under a fixed seed; memory it leaves
    uninitialised (`torch.empty`) reads NaN, so parity's seeded state replaces it."""
    import torch

    with ProjectLoader(root) as loader, _uninitialised_reads_nan():
        torch.manual_seed(seed)
        model = loader.resolve(factory)()
    if not isinstance(model, torch.nn.Module):
        raise EntrypointError(f"{factory}: returned {type(model).__name__}, not a torch.nn.Module")
    return model.eval()


@contextlib.contextmanager
def _uninitialised_reads_nan() -> Iterator[None]:
    """torch's documented switch: with deterministic algorithms on, `torch.empty` and its kin fill
    floating memory with NaN. Without it, a parameter left empty holds whatever the allocator
    returned, finite garbage (1e38) included, which no NaN check finds. Warn-only, so an op
    without a deterministic kernel still runs; the caller's own setting is restored unless the
    factory chose one itself."""
    import torch

    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.utils.deterministic.fill_uninitialized_memory)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have a deterministic implementation")
            yield
    finally:
        ours = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.utils.deterministic.fill_uninitialized_memory) == (True, True, True)
        if ours:
            torch.use_deterministic_algorithms(before[0], warn_only=before[1])
            torch.utils.deterministic.fill_uninitialized_memory = before[2]


def example_inputs(root: Path, inputs: str, seed: int) -> tuple[tuple, dict]:
    """The example inputs as (args, kwargs), made under a fixed seed."""
    import torch

    with ProjectLoader(root) as loader:
        torch.manual_seed(seed)
        return normalise_inputs(loader.resolve(inputs)())


def resolve(reference: str, root: Path) -> Callable[..., Any]:
    """The object `pkg.module:attr` names, imported from `root`."""
    with ProjectLoader(root) as loader:
        return loader.resolve(reference)
