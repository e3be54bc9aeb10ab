"""Porting a whole tree: every Python file through port_source, everything else copied.

Modes: write a ported copy (`out`), rewrite in place, or only compute (diff / check / report).
One file's failure never stops the others and never leaves a half-written file.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from porter.config import ConfigResolver, Overrides
from porter.rewrite.cache import PortCache
from porter.rewrite.file_port import FilePort, port_source
from porter.rewrite.fileio import atomic_write, copy_file, encode_source, remove_leftover_temps, source_encoding
from porter.rewrite.linelength import configured_line_length, forget_line_lengths
from porter.rewrite.narrow import port_source_narrow
from porter.rewrite.shared_helpers import helper_shape, share
from porter.source.cache import cache_key
from porter.source.catalogue import Catalogue, load_catalogue
from porter.source.discovery import NOTEBOOK_SUFFIX, PYTHON_SUFFIXES, special_file, walk_all
from porter.source.engine import RuleIndex, gc_paused
from porter.source.extensions import discover_extension_modules
from porter.source.findings import Finding
from porter.source.runner import MAX_FILE_BYTES, analyse_bytes, decode_python
from porter.source.selection import ignored_rules, select_rules, validate_selectors
from porter.source.workers import die_with_parent, pool_context

PARALLEL_THRESHOLD = 16
STUB_SUFFIX = ".pyi"  # a type stub: never run, so never rewritten


@dataclass
class TreePort:
    root: Path
    target: str
    files: list[FilePort] = field(default_factory=list)
    copied: int = 0
    # Notebooks with findings: port does not rewrite notebooks (they are copied unchanged); each
    # finding is work left in the report.
    notebooks: list[tuple[str, list[Finding]]] = field(default_factory=list)
    # Type stubs (.pyi) with findings: never run, so never given helpers, guards or device calls;
    # copied unchanged, their findings work left.
    stubs: list[tuple[str, list[Finding]]] = field(default_factory=list)
    # (path, reason): tool folders (.venv, node_modules, ...) and symlinks leaving the tree, left
    # out of an --out copy.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # (path, message): files that could not be read, ported or written.
    problems: list[tuple[str, str]] = field(default_factory=list)
    catalogue: Catalogue | None = None
    # New files the port adds (path → text): each package's shared helper module (shared_helpers.py).
    added: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> list[FilePort]:
        """Files whose port changed them (a file that failed, to port or to write, is not among them)."""
        return [f for f in self.files if f.changed and not f.error]


@dataclass(frozen=True)
class PortOptions:
    target: str = "neuron"
    unsafe_fixes: bool = False
    out: Path | None = None
    in_place: bool = False
    jobs: int | None = None
    # None: no cache; otherwise the folder the lint cache uses too.
    cache_dir: Path | None = None


_STATE: dict = {}


def _init(index: RuleIndex, catalogue: Catalogue, target: str, unsafe: bool,
          extensions: frozenset[str] = frozenset(), in_pool: bool = False) -> None:
    if in_pool:
        die_with_parent()
    _STATE.update(index=index, catalogue=catalogue, target=target, unsafe=unsafe, extensions=extensions)


def _port_file(path: str) -> FilePort | tuple[str, str]:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return path, f"cannot read ({exc.strerror})"
    if len(data) > MAX_FILE_BYTES:  # as lint: a file this big is generated data, not code to port
        size = os.path.getsize(path)
        return FilePort(path, "", "", error=f"file is {size / 1e6:.1f} MB, over the "
                                            f"{MAX_FILE_BYTES / 2**20:g} MiB limit; not ported (copied unchanged)")
    text = decode_python(data, path)
    if not isinstance(text, str):
        return FilePort(path, "", "", error=text.message)
    args = (text, path, _STATE["index"], _STATE["catalogue"], _STATE["target"], _STATE["unsafe"],
            _STATE.get("extensions", frozenset()), configured_line_length(path))
    try:
        try:
            with gc_paused():  # libcst's trees are millions of objects: no cyclic GC scans them mid-port
                port = port_source_narrow(*args)
        except RecursionError:  # deep nesting CPython accepts: again, with a deeper stack
            port = with_deep_stack(port_source, *args)
    except RecursionError:
        port = FilePort(path, text, text, error="nesting too deep for porter's rewriter; not ported (copied unchanged)")
    except Exception as exc:  # one file's failure must not end the run
        port = FilePort(path, text, text, error=f"internal error: {type(exc).__name__}: {exc}")
    port = _in_encoding(port, source_encoding(data))
    if port.changed and not port.error:  # sharing the helpers needs its shape: worked out here, in parallel
        port.helper_shape = helper_shape(Path(path), port.ported, port.original, port.cut) or False
    port.cut = None  # it holds lint's tree: not sent back to the main process
    return port


def with_deep_stack(fn, *args):
    """`fn(*args)` in a thread with a 512 MiB stack and a recursion limit to match: libcst's
    visitors recurse once per nesting level, and CPython's default limit stops them near 150."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = fn(*args)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    limit = sys.getrecursionlimit()
    old_size = threading.stack_size(512 * 2**20)
    sys.setrecursionlimit(max(limit, 60_000))
    try:
        worker = threading.Thread(target=run, name="porter-deep-port")
        worker.start()
        worker.join()
    finally:
        threading.stack_size(old_size)
        sys.setrecursionlimit(limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _in_encoding(port: FilePort, encoding: str) -> FilePort:
    """Record the file's encoding; a ported text that encoding cannot hold is a problem, not a write.

    A latin-1 file whose port adds text outside latin-1 would otherwise be corrupted (or turned into
    UTF-8 under a latin-1 cookie): it is reported and copied unchanged instead.
    """
    port.encoding = encoding
    if port.changed and not port.error:
        try:
            encode_source(port.ported, encoding)
        except UnicodeEncodeError as exc:
            port.error = (f"the ported text cannot be written in the file's encoding {encoding} "
                          f"({exc.object[exc.start:exc.end]!r} at offset {exc.start}); copied unchanged")
            port.ported = port.original
            port.changes = []  # nothing of it is applied
    return port


def port_tree(
    root: Path,
    options: PortOptions,
    overrides: Overrides | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TreePort:
    overrides = overrides or Overrides()
    resolver = ConfigResolver(overrides)
    settings = resolver.for_path(root)
    catalogue = load_catalogue(settings.rule_paths)
    for option, values in (("--select", overrides.select), ("--ignore", overrides.ignore),
                           ("--extend-select", overrides.extend_select)):
        validate_selectors(values or (), catalogue, option)
    rules = [r for r in select_rules(catalogue, settings) if r.matchers]
    index = RuleIndex.build(rules, also_match=ignored_rules(catalogue, settings), target=options.target)
    result = TreePort(root=root, target=options.target, catalogue=catalogue)
    if (kind := special_file(root)) is not None:  # a FIFO named x.py would block the read forever
        result.problems.append((str(root), f"{kind}, not a regular file: not read"))
        return result
    python_files: list[str] = []
    others: list[tuple[Path, bool]] = []
    notebooks: list[Path] = []
    folders: list[Path] = []
    leftovers: list[Path] = []
    stubs: list[Path] = []
    if root.is_file() and root.suffix in (NOTEBOOK_SUFFIX, STUB_SUFFIX):
        # named on its own: still a notebook (not Python) or a stub (not run)
        (notebooks if root.suffix == NOTEBOOK_SUFFIX else stubs).append(root)
        if options.out is not None:
            others.append((root, False))
    elif root.is_file():
        python_files.append(str(root))
    else:
        # --out copies the whole tree: ignored and excluded files too (unchanged, not ported).
        for path, is_link, port in walk_all(root, resolver.for_path, result.problems,
                                            copy_all=options.out is not None, skipped=result.skipped,
                                            folders=folders, leftovers=leftovers):
            if port and not is_link and path.suffix == NOTEBOOK_SUFFIX:
                notebooks.append(path)
            if port and not is_link and path.suffix == STUB_SUFFIX:
                stubs.append(path)
            if port and not is_link and path.suffix in PYTHON_SUFFIXES and path.suffix != STUB_SUFFIX:
                python_files.append(str(path))
            else:
                others.append((path, is_link))
    # The project's own CUDA extension modules (setup.py, cpp_extension.load): their imports are guarded.
    extensions = discover_extension_modules(python_files)
    forget_line_lengths()
    _init(index, catalogue, options.target, options.unsafe_fixes, extensions)
    cache = None
    if options.cache_dir is not None:
        # Markers wrap to each file's configured line length: a changed length is a changed port.
        lengths = ",".join(sorted({f"{Path(p).parent}={n}" for p in python_files
                                   if (n := configured_line_length(p)) is not None}))
        key = cache_key("port", catalogue.digest, options.target, str(options.unsafe_fixes),
                        ",".join(r.id for r in rules), ",".join(sorted(extensions)), lengths)
        cache = PortCache(options.cache_dir, key)
    copier = None
    if options.out is not None:
        if options.out.is_dir():
            remove_leftover_temps(options.out)  # a killed earlier run's, in the folder written now
        copier = threading.Thread(target=_copy_others, args=(root, options.out, result, others, folders),
                                  name="porter-copy", daemon=True)
        copier.start()
    todo: list[str] = []
    done = 0
    for path in python_files:
        hit = _cached(cache, path) if cache is not None else None
        if hit is None:
            todo.append(path)
            continue
        _collect(result, hit)
        done += 1
    for item in _map(todo, index, catalogue, options):
        _collect(result, item)
        if cache is not None and isinstance(item, FilePort) and not (item.error or "").startswith("internal error"):
            cache.store(item)  # an internal error is retried next time, not remembered
        done += 1
        if progress:
            progress(done, len(python_files))
    if cache is not None:
        cache.save()
    result.files.sort(key=lambda f: f.path)
    if root.is_dir():  # a package's files import porter's helpers from one module (shared_helpers.py)
        by_path = {Path(p.path): p for p in result.files}
        for path, text in share(result.files, options.target).items():
            if path in by_path and not by_path[path].error:
                by_path[path].ported = text
            else:
                result.added[str(path)] = text
    for notebook in notebooks:
        _notebook_left(result, notebook, index, result.notebooks)
    for stub in stubs:
        _notebook_left(result, stub, index, result.stubs)
    if options.out is not None:
        copier.join()
        _write_ported(root, options.out, result)
        result.problems.sort(key=lambda problem: problem[0])  # the copy's and the port's, in one order
    elif options.in_place:
        for leftover in leftovers:  # a killed earlier run's: this run writes in these folders
            leftover.unlink(missing_ok=True)
        _write_in_place(result)
    return result


def _notebook_left(result: TreePort, path: Path, index: RuleIndex,
                   into: list[tuple[str, list[Finding]]]) -> None:
    """A notebook or a stub is not rewritten (it is copied unchanged): its findings are work left."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        result.problems.append((str(path), f"cannot read ({exc.strerror})"))
        return
    findings = [f for f in analyse_bytes(data, str(path), index) if not f.suppressed]
    errors = [f for f in findings if f.rule_id.startswith("NRN0")]
    if errors:
        result.problems.append((str(path), errors[0].message))
    left = [f for f in findings if not f.rule_id.startswith("NRN0")]
    if left or errors:
        into.append((str(path), left))


def _collect(result: TreePort, item: FilePort | tuple[str, str]) -> None:
    if isinstance(item, tuple):
        result.problems.append(item)
    else:
        result.files.append(item)
        if item.error:
            result.problems.append((item.path, item.error))


def _cached(cache: PortCache, path: str) -> FilePort | None:
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    text = decode_python(data, path)
    if not isinstance(text, str):
        return None
    hit = cache.lookup(path, text)
    return _in_encoding(hit, source_encoding(data)) if hit is not None else None


def _map(paths: list[str], index, catalogue, options: PortOptions):
    jobs = options.jobs or os.cpu_count() or 1
    if len(paths) < PARALLEL_THRESHOLD or jobs <= 1:
        for path in paths:
            yield _port_file(path)
        return
    with ProcessPoolExecutor(max_workers=jobs, mp_context=pool_context(), initializer=_init,
                             initargs=(index, catalogue, options.target, options.unsafe_fixes,
                                       _STATE.get("extensions", frozenset()), True)) as pool:
        # Biggest files first and each alone, small ones in batches: no worker is left with one
        # huge file at the end, and results (and the progress bar) come as each batch finishes.
        futures = [pool.submit(_port_many, batch) for batch in _batches(paths)]
        for future in as_completed(futures):
            yield from future.result()


def _port_many(paths: list[str]) -> list:
    return [_port_file(path) for path in paths]


def _batches(paths: list[str], small: int = 64 * 1024, per_batch: int = 16) -> list[list[str]]:
    sized = sorted(((_size(p), p) for p in paths), reverse=True)
    batches: list[list[str]] = []
    current: list[str] = []
    for size, path in sized:
        if size >= small:
            batches.append([path])
            continue
        current.append(path)
        if len(current) == per_batch:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    return batches


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _write_ported(root: Path, out: Path, result: TreePort) -> None:
    """The Python files of an --out copy: ported, or copied unchanged; and the added helper modules."""
    base = root if root.is_dir() else root.parent
    made: set[Path] = set()
    for port in result.files:
        src = Path(port.path)
        dst = out / src.relative_to(base)
        try:
            if port.error or not port.changed:  # unparsable or untouched files are copied unchanged
                copy_file(src, dst, durable=False, made=made)
            else:
                atomic_write(dst, encode_source(port.ported, port.encoding), mode_from=src, durable=False, made=made)
        except OSError as exc:
            _write_failed(result, port, f"cannot write {dst} ({exc.strerror})")
    for path, text in result.added.items():
        dst = out / Path(path).relative_to(base)
        try:
            atomic_write(dst, text.encode("utf-8"), durable=False, made=made)
        except OSError as exc:
            result.problems.append((path, f"cannot write {dst} ({exc.strerror})"))


def _copy_others(root: Path, out: Path, result: TreePort, others: list[tuple[Path, bool]],
                 folders: list[Path] = ()) -> None:
    """Everything of an --out copy but the Python files: folders, other files, symlinks inside the tree.
    Needs nothing the port computes, so it runs while the files are ported."""
    base = root if root.is_dir() else root.parent
    made: set[Path] = set()
    for folder in folders:  # empty folders too: the copy is the whole tree
        try:
            (out / folder.relative_to(base)).mkdir(parents=True, exist_ok=True)
            made.add(out / folder.relative_to(base))
        except OSError as exc:
            result.problems.append((str(folder), f"cannot create {out / folder.relative_to(base)} ({exc.strerror})"))
    for src, is_link in others:
        dst = out / src.relative_to(base)
        try:
            if is_link:
                target = os.readlink(src)
                if link_loops(src):
                    result.skipped.append((str(src), "symlink loop, not copied"))
                    continue
                if not Path(os.path.realpath(src.parent / target)).is_relative_to(base.resolve()):
                    # Not an error (a `data -> /mnt/datasets` link is common): left out, and the summary says so.
                    result.skipped.append((str(src), "symlink to outside the tree, not followed"))
                    continue
                dst.parent.mkdir(parents=True, exist_ok=True)
                if dst.is_symlink() or dst.exists():
                    dst.unlink()
                os.symlink(target, dst)
            else:
                copy_file(src, dst, durable=False, made=made)
            result.copied += 1
        except OSError as exc:
            result.problems.append((str(src), f"cannot copy ({exc.strerror})"))


def link_loops(path: Path) -> bool:
    """Does resolving `path` run into a symlink loop (ELOOP)?"""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def _write_in_place(result: TreePort) -> None:
    for path, text in result.added.items():
        try:
            atomic_write(Path(path), text.encode("utf-8"))
        except OSError as exc:
            result.problems.append((path, f"cannot write ({exc.strerror})"))
    for port in result.changed:
        if port.error:
            continue
        try:
            atomic_write(Path(port.path), encode_source(port.ported, port.encoding))
        except OSError as exc:
            _write_failed(result, port, f"cannot write ({exc.strerror})")


def _write_failed(result: TreePort, port: FilePort, message: str) -> None:
    """A file that could not be written is a problem, not a change: none of its fixes reached the disk."""
    result.problems.append((port.path, message))
    port.error = message
    port.ported = port.original
    port.changes = []
