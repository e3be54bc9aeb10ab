"""A lint run: discover files, reuse the cache, analyse the rest in parallel, filter, sort."""

from __future__ import annotations

import io
import os
import tokenize
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from porter.config import ConfigResolver, Overrides, Settings
from porter.source import extensions as extension_source
from porter.source.cache import Cache, cache_key, content_hash, default_cache_dir, read_entries, save_entries
from porter.source.catalogue import Catalogue, load_catalogue
from porter.source.discovery import NOTEBOOK_SUFFIX, _excluded, discover
from porter.source.engine import RuleIndex, analyse_source
from porter.source.extensions import EXTENSION_RULE, discover_extension_modules, extension_import_findings
from porter.source.findings import INTERNAL_ERROR, Finding
from porter.source.notebook import NotebookError, load_notebook, read_cells
from porter.source.selection import ignored_rules, per_file_ignored, select_rules, validate_selectors
from porter.source.suppressions import covers
from porter.source.workers import die_with_parent, pool_context

MAX_FILE_BYTES = 10 * 1024 * 1024
# Below this many files to parse, a process pool costs more than it saves.
PARALLEL_THRESHOLD = 24


def document_order(finding: Finding) -> tuple:
    """Path, then notebook cell, then position: a notebook's findings read top to bottom."""
    return (finding.path, finding.cell or 0, finding.line, finding.col, finding.rule_id, finding.message,
            finding.end_line, finding.end_col, finding.matched, finding.suppressed)


def diagnostic(path: str, rule_id: str, message: str) -> Finding:
    return Finding(path=path, line=1, col=1, rule_id=rule_id, message=message, end_line=1, end_col=1)


def decode_python(data: bytes, path: str) -> str | Finding:
    """Source text honouring a BOM and PEP 263 coding cookies; a finding when it cannot be."""
    return _decode_python(data, path)[0]


# Encodings in which an ASCII character is always its own byte, and such a byte always that
# character: a token (ASCII) or a newline is in the text exactly where it is in the bytes.
_ASCII_TRANSPARENT = frozenset({"utf-8", "utf-8-sig", "iso-8859-1"})


def _decode_python(data: bytes, path: str) -> tuple[str | Finding, str]:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        return diagnostic(path, "NRN002", f"cannot decode file: {exc.msg}"), ""
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        return diagnostic(
            path, "NRN002",
            f"file is not valid {encoding} (byte 0x{data[exc.start]:02x} at offset {exc.start}); not checked",
        ), encoding
    except LookupError:
        return diagnostic(path, "NRN002", f"unknown source encoding {encoding!r}; not checked"), encoding


def analyse_bytes(data: bytes, path: str, index: RuleIndex) -> list[Finding]:
    """All findings for one file's bytes (before per-file ignores and suppressions)."""
    if len(data) > MAX_FILE_BYTES:
        limit = f"{MAX_FILE_BYTES / 2**20:g} MiB"
        return [diagnostic(path, "NRN004", f"file is {len(data) / 1e6:.1f} MB, over the {limit} limit; not checked")]
    if path.endswith(NOTEBOOK_SUFFIX):
        # A notebook's JSON is always checked (it is cheap): a broken notebook is NRN006 even
        # without a catalogue token; the cells are parsed only when the prefilter wants them.
        try:
            cells = read_cells(data)
        except NotebookError as exc:
            return [diagnostic(path, "NRN006", str(exc))]
        if not index.wants(data):
            return []
        notebook = load_notebook(data, path, cells)
        findings = [notebook.to_cell(f) for f in analyse_source(notebook.source, path, index)]
        return sorted(notebook.cell_errors + findings, key=document_order)
    hits = index.token_lines(data)  # the prefilter, and the lines the walk looks at
    if not hits:
        return []
    text, encoding = _decode_python(data, path)
    if isinstance(text, Finding):
        return [text]
    return analyse_source(text, path, index, hits=hits if encoding in _ASCII_TRANSPARENT else None)


# Worker state: set once per process so each task only carries a path and a group number.
_WORKER_INDEXES: list[RuleIndex] = []


def _init_worker(indexes: list[RuleIndex], in_pool: bool = False) -> None:
    global _WORKER_INDEXES
    if in_pool:
        die_with_parent()
    _WORKER_INDEXES = indexes


def _work(task: tuple[str, int]) -> tuple[str, str, list[Finding], list[str] | None]:
    """One file's findings, its content hash and, when it may declare extension modules, the
    names it declares (found here, in the worker, while its bytes are at hand)."""
    path, group = task
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return path, "", [diagnostic(path, "NRN005", f"cannot read file ({exc.strerror})")], None
    try:
        findings = analyse_bytes(data, path, _WORKER_INDEXES[group])
    except Exception as exc:  # one file's crash must not end the run
        findings = [diagnostic(path, "NRN003", f"internal error: {type(exc).__name__}: {exc}")]
    declared = None
    if _may_declare(Path(path), findings):
        # read as discover_extension_modules reads a file: UTF-8 with replacement, universal newlines
        text = data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
        declared = sorted(extension_source.extension_modules_in(text))
    return path, content_hash(data), findings, declared


def _may_declare(path: Path, findings: Iterable[Finding]) -> bool:
    """Can this file declare extension modules: a `setup.py`, or a file using torch.utils.cpp_extension?"""
    return path.suffix != ".ipynb" and (path.name == "setup.py" or any(
        f.rule_id == EXTENSION_RULE and "cpp_extension" in f.matched for f in findings))


@dataclass
class Group:
    """Files that share settings, and so a rule set and a cache."""

    settings: Settings
    index: RuleIndex
    cache: Cache | None
    files: list[Path] = field(default_factory=list)


@dataclass
class LintResult:
    findings: list[Finding]
    files_seen: int
    files_analysed: int
    catalogue: Catalogue
    settings: Settings
    rule_ids: set[str] = field(default_factory=set)
    # Directories given explicitly that hold no file to check.
    empty_dirs: list[str] = field(default_factory=list)


def lint_paths(
    paths: list[Path],
    overrides: Overrides | None = None,
    *,
    use_cache: bool = True,
    cache_dir: Path | None = None,
    jobs: int | None = None,
    force_exclude: bool = False,
    show_suppressed: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> LintResult:
    overrides = overrides or Overrides()
    resolver = ConfigResolver(overrides)
    cwd_settings = resolver.for_path(Path.cwd())
    found = discover(paths, resolver.for_path, force_exclude=force_exclude)
    catalogues: dict[tuple[Path, ...], Catalogue] = {}
    groups: dict[Settings, Group] = {}
    if use_cache and os.environ.get("PORTER_NO_CACHE"):
        use_cache = False
    cache_root = cache_dir or default_cache_dir(resolver.cwd)

    def group_for(settings: Settings) -> Group:
        group = groups.get(settings)
        if group is None:
            catalogue = catalogues.get(settings.rule_paths)
            if catalogue is None:
                catalogue = catalogues[settings.rule_paths] = load_catalogue(settings.rule_paths)
            if settings.config_file is not None:
                for key in ("select", "extend-select", "ignore"):
                    values = settings.raw.get(key) or ()
                    if isinstance(values, str):  # `select = "NRN1"` is allowed, like a one-item list
                        values = (values,)
                    validate_selectors(tuple(values), catalogue, f"{settings.config_file}: [tool.porter] {key}")
            rules = select_rules(catalogue, settings)
            ids = ",".join(sorted(r.id for r in rules))
            cache = Cache(cache_root, cache_key(catalogue.digest, settings.target, ids)) if use_cache else None
            index = RuleIndex.build(rules, also_match=ignored_rules(catalogue, settings), target=settings.target)
            group = groups[settings] = Group(settings, index, cache)
        return group

    group_for(cwd_settings)
    for path in found.files:  # every project's catalogue, so `--select` may name a project's own rule
        group_for(resolver.for_path(path))
    for option, values in (("--select", overrides.select), ("--extend-select", overrides.extend_select),
                           ("--ignore", overrides.ignore)):
        for selector in values or ():
            known = [c for c in catalogues.values() if any(r.id.startswith(selector.upper()) for r in c)]
            if not known:
                validate_selectors((selector,), catalogues[cwd_settings.rule_paths], option)
    results: dict[str, list[Finding]] = {}
    declared: dict[str, list[str]] = {}  # extension modules declared, by file, as the workers found them
    pending: list[tuple[str, int, os.stat_result | None]] = []
    group_list: list[Group] = []
    group_numbers: dict[int, int] = {}
    for path in found.files:
        group = group_for(resolver.for_path(path))
        number = group_numbers.setdefault(id(group), len(group_list))
        if number == len(group_list):
            group_list.append(group)
        key = str(path)
        try:
            stat = path.stat()
        except OSError as exc:
            results[key] = [diagnostic(key, "NRN005", f"cannot read file ({exc.strerror})")]
            continue
        cached = group.cache.lookup(str(path.absolute()), stat.st_size, stat.st_mtime_ns) if group.cache else None
        if cached is not None:
            results[key] = [_relocate(f, key) for f in cached]
        else:
            pending.append((key, number, stat))
    indexes = [g.index for g in group_list]
    tasks = [(key, number) for key, number, _ in pending]
    stats = {key: (number, stat) for key, number, stat in pending}
    for key, digest, findings, names in _run(tasks, indexes, jobs, progress):
        number, stat = stats[key]
        group = group_list[number]
        results[key] = findings
        if names is not None:
            declared[key] = names
        # an internal error is never cached: the next run tries the file again
        crashed = any(f.rule_id == INTERNAL_ERROR for f in findings)
        if group.cache and digest and stat is not None and not crashed:
            group.cache.store(str(Path(key).absolute()), stat.st_size, stat.st_mtime_ns, digest, findings)
    for group in groups.values():
        if group.cache:
            group.cache.save()

    memo_path = cache_root / "extensions.json" if use_cache else None
    _extension_imports(results, found.files, lambda path: group_for(resolver.for_path(path)).index, memo_path,
                       declared)

    findings: list[Finding] = [diagnostic(p, "NRN005", msg) for p, msg in found.problems]
    for key, file_findings in results.items():
        path = Path(key)
        settings = resolver.for_path(path)
        dropped = per_file_ignored(path, settings)
        for f in file_findings:
            if dropped and covers(frozenset(dropped), f.rule_id):
                continue
            if f.suppressed and not show_suppressed:
                continue
            findings.append(f)
    # porter's own diagnostics are dropped by an `ignore` naming them by id or by an NRN0 prefix (not
    # by `ALL`), in the settings of their file (the nearest [tool.porter] governs, as for every rule).
    def diagnostic_ignored(f: Finding) -> bool:
        if not f.rule_id.startswith("NRN0"):
            return False
        ignore = resolver.for_path(Path(f.path)).ignore
        return any(sel.startswith("NRN0") and f.rule_id.startswith(sel) for sel in ignore)

    findings = [f for f in findings if not diagnostic_ignored(f)]
    findings.sort(key=document_order)
    rule_ids = {rule_id for g in groups.values() for rule_id in g.index.reported}
    return LintResult(findings, len(found.files), len(pending), catalogues[cwd_settings.rule_paths],
                      cwd_settings, rule_ids, found.empty_dirs)


def _extension_imports(results: dict[str, list[Finding]], files: list[Path], index_for,
                       memo_path: Path | None = None, declared: dict[str, list[str]] | None = None) -> None:
    """Imports of the project's own CUDA extension modules (declared by setup.py or
    cpp_extension.load in the tree) as NRN408 findings. A fact about the whole tree, so found after
    the per-file pass and never cached with a file; files that name no extension are not parsed.

    Only the files that can declare one are read again: each `setup.py`, and the files where the
    per-file pass (cached or not) met `torch.utils.cpp_extension`, so a warm run stays cheap; and
    the names of a file the workers just analysed come with its results (`declared`)."""
    declaring = [str(path) for path in files if _may_declare(path, results.get(str(path), ()))]
    memo = read_entries(memo_path) if memo_path is not None else None
    before = dict(memo) if memo is not None else None
    extensions = discover_extension_modules(declaring, memo, declared)
    if memo_path is not None and memo != before:
        save_entries(memo_path, memo)
    if not extensions:
        return
    last_parts = {name.rsplit(".", 1)[-1].encode() for name in extensions}
    for key in results:
        path = Path(key)
        if path.suffix == ".ipynb" or EXTENSION_RULE not in index_for(path).reported:
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if not any(name in data for name in last_parts):
            continue  # the common case: decode and parse only files that spell an extension's name
        text = decode_python(data, key)
        if isinstance(text, str):
            results[key] = [*results[key], *extension_import_findings(text, key, extensions, EXTENSION_RULE)]


def _relocate(finding: Finding, path: str) -> Finding:
    """Cached findings carry the path they were made under; show the one asked for now."""
    if finding.path == path:
        return finding
    return Finding(**{**finding.to_dict(), "path": path})


def _run(tasks, indexes, jobs, progress):
    total = len(tasks)
    jobs = jobs or os.cpu_count() or 1
    if total < PARALLEL_THRESHOLD or jobs <= 1:
        _init_worker(indexes)
        for done, task in enumerate(tasks, start=1):
            yield _work(task)
            if progress:
                progress(done, total)
        return
    context = pool_context()
    # Big files first, so no worker is left with one huge file at the end.
    tasks = sorted(tasks, key=lambda t: -_size(t[0]))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                             initializer=_init_worker, initargs=(indexes, True)) as pool:
        for done, result in enumerate(pool.map(_work, tasks, chunksize=4), start=1):
            yield result
            if progress:
                progress(done, total)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def lint_stdin(data: bytes, filename: str, overrides: Overrides | None = None,
               force_exclude: bool = False) -> LintResult:
    """`porter lint -`: the bytes read from stdin, checked as the file `filename` (its settings,
    per-file ignores and suffix: `.ipynb` is read as a notebook). With `force_exclude`, a
    `filename` the excludes match is not checked (ruff's --force-exclude with --stdin-filename)."""
    resolver = ConfigResolver(overrides or Overrides())
    settings = resolver.for_path(Path(filename))
    catalogue = load_catalogue(settings.rule_paths)
    rules = select_rules(catalogue, settings)
    index = RuleIndex.build(rules, also_match=ignored_rules(catalogue, settings), target=settings.target)
    if force_exclude and _excluded(Path(filename), settings, with_parents=True):
        return LintResult([], 1, 0, catalogue, settings, set(index.reported))
    try:
        findings = analyse_bytes(data, filename, index)
    except Exception as exc:  # a porter bug: reported like a file's, never a traceback
        findings = [diagnostic(filename, INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}")]
    dropped = per_file_ignored(Path(filename), settings)
    findings = [f for f in findings if not f.suppressed and not (dropped and covers(frozenset(dropped), f.rule_id))]
    findings.sort(key=document_order)
    return LintResult(findings, 1, 1, catalogue, settings, set(index.reported))
