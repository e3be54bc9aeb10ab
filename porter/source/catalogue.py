"""Loading the rule catalogue: the TOML files in rules/ plus users' own rule files.

The format is documented in docs/rule-format.md. Everything here is plain data; matching lives in
porter.source.matchers.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

TARGETS = ("neuron", "portable", "xla")
SEVERITIES = ("error", "warning", "info")
APPLICABILITIES = ("safe", "unsafe", "manual", "none")
MATCH_KINDS = ("name", "method", "attribute", "call", "keyword", "compare", "string")
NAME_CONTEXTS = ("call", "reference", "decorator", "import")
VALUE_PREDICATES = (
    "cuda-device",
    "cpu-device",
    "nccl",
    "true",
    "any",
    "absent",
    "cuda-compile-mode",
    "cuda-compile-backend",
    "cuda-compile-options",
    "float16",
    "cuda-tensor-type",
    "not-none",
    "not-false",
    "true-or-unknown",
    "not-zero",
    "not-full-window",
)
ID_PATTERN = re.compile(r"^NRN\d{3}$")


class CatalogueError(ValueError):
    """A rule file is malformed; the message names the file and the rule."""


@dataclass(frozen=True)
class Matcher:
    kind: str
    names: tuple[str, ...] = ()
    context: tuple[str, ...] = ("call", "reference", "decorator")
    callee: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    position: int | None = None
    keyword: str | None = None
    value: str = "any"
    exclude_callee: tuple[str, ...] = ()
    pattern: str | None = None
    fstring: bool = False
    receiver: str | None = None
    # (call matcher) report only calls that do not pass this argument, by keyword or at `without_position`
    without: str | None = None
    without_position: int | None = None
    # (call matcher by method) the API's keywords: a call passing a positional argument or another
    # keyword is some other object's method of the same name (`regex.compile("x")`, Keras's
    # `model.compile(optimizer=...)` are not `nn.Module.compile`)
    keywords_only: tuple[str, ...] = ()
    # (name matcher) compiled extension modules: matched even inside the package that builds them
    compiled: bool = False

    @cached_property
    def regex(self) -> re.Pattern[str] | None:
        return re.compile(self.pattern) if self.pattern else None

    @cached_property
    def receiver_regex(self) -> re.Pattern[str] | None:
        return re.compile(self.receiver) if self.receiver else None


TRANSFORMS = (
    "device", "device-type", "rename", "replace", "value", "keywords", "guarded-call", "guard-import",
    "statement", "remove", "autocast", "swap-import",
)


NEEDS_TO = ("rename", "replace", "value", "guarded-call", "device-type", "statement", "swap-import")


@dataclass(frozen=True)
class Fix:
    """What `porter port` does for one rule on one target (docs/rule-format.md, "Fixes")."""

    applicability: str = "none"
    result: str = ""
    example: str = ""
    transform: str = ""
    to: str = ""
    set: dict[str, str] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    guard: str = ""
    default: str = "None"
    marker: str = ""
    # For manual work: low (minutes a site), medium (hours), high (no equivalent; a rewrite).
    effort: str = "low"

    @property
    def available(self) -> bool:
        return self.applicability in ("safe", "unsafe")


@dataclass(frozen=True)
class Example:
    code: str
    count: int = 1
    target: str = "neuron"


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    title: str
    category: str
    severity: str
    message: str
    detects: str
    why: str
    docs: str = ""
    targets: tuple[str, ...] = TARGETS
    default: bool = True
    tokens: tuple[str, ...] = ()
    matchers: tuple[Matcher, ...] = ()
    fixes: dict[str, Fix] = field(default_factory=dict)
    valid: tuple[Example, ...] = ()
    invalid: tuple[Example, ...] = ()
    has_examples: bool = True
    source: str = ""
    # A device test (`x.is_cuda`, `device.type == "cuda"`, `torch.cuda.is_available()`): where it
    # guards code porter leaves CUDA-only, it is kept and marked instead of rewritten (porter.source.gates).
    device_test: bool = False
    # "device": report only where the value can reach the device (not in CPU-only code, dtype
    # tables, comparisons, or module construction); "" reports every match.
    reach: str = ""

    @property
    def names_exact(self) -> tuple[str, ...]:
        """The rule's name patterns that are plain names, not globs."""
        return tuple(n for m in self.matchers for n in m.names if not any(c in n for c in "*?["))

    @cached_property
    def transforms(self) -> frozenset[str]:
        """The transforms of its fixes, over all targets (asked per site; a loaded rule's fixes do not change)."""
        return frozenset(f.transform for f in self.fixes.values())

    @cached_property
    def removes_statement(self) -> bool:
        """Does some target's fix delete the statement the construct is in? (Asked per finding; the
        fixes of a loaded rule do not change.)"""
        return any(f.transform == "remove" for f in self.fixes.values())

    def fix_for(self, target: str) -> Fix:
        return self.fixes.get(target, Fix())

    def applies_to(self, target: str) -> bool:
        return target in self.targets


@functools.lru_cache(maxsize=1 << 12)
def pattern_specificity(pattern: str) -> int:
    """How specific a glob is: its count of literal characters. Exact names beat any glob."""
    literal = len(pattern.replace("*", "").replace("?", ""))
    return literal + (1000 if not any(c in pattern for c in "*?[") else 0)


def glob_match(name: str, patterns: Iterable[str]) -> str | None:
    """The most specific pattern matching a dotted name, or None."""
    if isinstance(patterns, tuple):  # the catalogue's own patterns: the same questions recur in a file
        return _glob_match_cached(name, patterns)
    return _glob_match(name, patterns)


@functools.lru_cache(maxsize=1 << 16)
def _glob_match_cached(name: str, patterns: tuple[str, ...]) -> str | None:
    return _glob_match(name, patterns)


def _glob_match(name: str, patterns: Iterable[str]) -> str | None:
    best: str | None = None
    for pattern in patterns:
        if fnmatch.fnmatchcase(name, pattern):
            if best is None or pattern_specificity(pattern) > pattern_specificity(best):
                best = pattern
    return best


def _tuple(value, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise CatalogueError(f"{where}: `{key}` must be a string or a list of strings")


def _parse_matcher(raw: dict, where: str) -> Matcher:
    if not isinstance(raw, dict):
        raise CatalogueError(f"{where}: each [[rule.match]] must be a table")
    kind = raw.get("kind")
    if kind not in MATCH_KINDS:
        raise CatalogueError(f"{where}: match kind {kind!r} is not one of {', '.join(MATCH_KINDS)}")
    allowed = {
        "kind", "names", "context", "callee", "methods", "position", "keyword", "value",
        "exclude_callee", "pattern", "fstring", "receiver", "without", "without_position", "compiled",
        "keywords_only",
    }
    unknown = set(raw) - allowed
    if unknown:
        raise CatalogueError(f"{where}: unknown match keys {sorted(unknown)}")
    context = _tuple(raw.get("context"), where, "context") or ("call", "reference", "decorator")
    bad = set(context) - set(NAME_CONTEXTS)
    if bad:
        raise CatalogueError(f"{where}: unknown name context {sorted(bad)}")
    value = raw.get("value", "any")
    if value not in VALUE_PREDICATES:
        raise CatalogueError(f"{where}: value predicate {value!r} is not one of {', '.join(VALUE_PREDICATES)}")
    matcher = Matcher(
        kind=kind,
        names=_tuple(raw.get("names"), where, "names"),
        context=context,
        callee=_tuple(raw.get("callee"), where, "callee"),
        methods=_tuple(raw.get("methods"), where, "methods"),
        position=raw.get("position"),
        keyword=raw.get("keyword"),
        value=value,
        exclude_callee=_tuple(raw.get("exclude_callee"), where, "exclude_callee"),
        pattern=raw.get("pattern"),
        fstring=bool(raw.get("fstring", False)),
        receiver=raw.get("receiver"),
        without=raw.get("without"),
        without_position=raw.get("without_position"),
        keywords_only=_tuple(raw.get("keywords_only"), where, "keywords_only"),
        compiled=bool(raw.get("compiled", False)),
    )
    if (matcher.without is not None or matcher.without_position is not None) and kind != "call":
        raise CatalogueError(f"{where}: `without` only works with the `call` matcher")
    if matcher.keywords_only and not (kind == "call" and matcher.methods and not matcher.callee):
        raise CatalogueError(f"{where}: `keywords_only` only works with a `call` matcher by `methods`")
    if matcher.receiver is not None:
        if kind != "method":
            raise CatalogueError(f"{where}: `receiver` only works with the `method` matcher")
        try:
            re.compile(matcher.receiver)
        except re.error as exc:
            raise CatalogueError(f"{where}: bad receiver regex {matcher.receiver!r}: {exc}") from exc
    if kind in ("name", "method", "attribute") and not matcher.names:
        raise CatalogueError(f"{where}: a `{kind}` matcher needs `names`")
    if kind == "call":
        if not (matcher.callee or matcher.methods):
            raise CatalogueError(f"{where}: a `call` matcher needs `callee` or `methods`")
        if matcher.position is None and matcher.keyword is None:
            raise CatalogueError(f"{where}: a `call` matcher needs `position` or `keyword`")
    if kind == "keyword" and not matcher.keyword:
        raise CatalogueError(f"{where}: a `keyword` matcher needs `keyword`")
    if kind == "string":
        if not matcher.pattern:
            raise CatalogueError(f"{where}: a `string` matcher needs `pattern`")
        try:
            re.compile(matcher.pattern)
        except re.error as exc:
            raise CatalogueError(f"{where}: bad regex {matcher.pattern!r}: {exc}") from exc
    if value == "absent" and kind != "call":
        raise CatalogueError(f"{where}: value `absent` only works with the `call` matcher")
    return matcher


def _parse_examples(raw, where: str, key: str) -> tuple[Example, ...]:
    examples = []
    for i, item in enumerate(raw or []):
        if not isinstance(item, dict) or not isinstance(item.get("code"), str):
            raise CatalogueError(f"{where}: [[rule.{key}]] #{i + 1} needs a `code` string")
        target = item.get("target", "neuron")
        if target not in TARGETS:
            raise CatalogueError(f"{where}: [[rule.{key}]] #{i + 1} has unknown target {target!r}")
        examples.append(Example(code=item["code"], count=int(item.get("count", 1)), target=target))
    return tuple(examples)


FIX_KEYS = {
    "applicability", "result", "example", "transform", "to", "set", "drop", "guard", "default", "marker", "effort",
}
EFFORTS = ("low", "medium", "high")


def _parse_fix(raw: dict, where: str, applicability: str) -> Fix:
    unknown = set(raw) - FIX_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    transform = raw.get("transform", "")
    if transform and transform not in TRANSFORMS:
        raise CatalogueError(f"{where}: transform {transform!r} is not one of {', '.join(TRANSFORMS)}")
    if transform in NEEDS_TO and not raw.get("to"):
        raise CatalogueError(f"{where}: transform {transform!r} needs `to`")
    if transform == "guarded-call" and not raw.get("guard"):
        raise CatalogueError(f"{where}: transform 'guarded-call' needs `guard`")
    if raw.get("effort", "low") not in EFFORTS:
        raise CatalogueError(f"{where}: effort must be one of {', '.join(EFFORTS)}")
    set_ = raw.get("set", {})
    if not isinstance(set_, dict) or not all(isinstance(v, str) for v in set_.values()):
        raise CatalogueError(f"{where}: `set` must be a table of keyword = code strings")
    return Fix(
        applicability=applicability,
        result=raw.get("result", ""),
        example=raw.get("example", ""),
        transform=transform,
        to=raw.get("to", ""),
        set=dict(set_),
        drop=_tuple(raw.get("drop"), where, "drop"),
        guard=raw.get("guard", ""),
        default=raw.get("default", "None"),
        marker=raw.get("marker", ""),
        effort=raw.get("effort", "low"),
    )


REQUIRED = ("id", "name", "title", "category", "severity", "message", "detects", "why")


def parse_rule(raw: dict, source: str) -> Rule:
    rid = raw.get("id", "?")
    where = f"{source}: rule {rid}"
    missing = [k for k in REQUIRED if not isinstance(raw.get(k), str) or not raw.get(k)]
    if missing:
        raise CatalogueError(f"{where}: missing or empty {', '.join(missing)}")
    if not ID_PATTERN.match(rid):
        raise CatalogueError(f"{where}: id must look like NRN123")
    if raw["severity"] not in SEVERITIES:
        raise CatalogueError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    targets = _tuple(raw.get("targets"), where, "targets") or TARGETS
    if set(targets) - set(TARGETS):
        raise CatalogueError(f"{where}: unknown target in {list(targets)}")
    fixes: dict[str, Fix] = {}
    for target, fix in (raw.get("fix") or {}).items():
        if target not in TARGETS:
            raise CatalogueError(f"{where}: fix for unknown target {target!r}")
        applicability = fix.get("applicability", "none")
        if applicability not in APPLICABILITIES:
            raise CatalogueError(f"{where}: fix.{target}.applicability must be one of {APPLICABILITIES}")
        fixes[target] = _parse_fix(fix, f"{where}: fix.{target}", applicability)
    raw_matchers = raw.get("match", [])
    if isinstance(raw_matchers, dict):
        raw_matchers = [raw_matchers]
    matchers = tuple(_parse_matcher(m, where) for m in raw_matchers)
    if matchers and not raw.get("tokens"):
        raise CatalogueError(f"{where}: `tokens` is required for the prefilter")
    return Rule(
        id=rid,
        name=raw["name"],
        title=raw["title"],
        category=raw["category"],
        severity=raw["severity"],
        message=raw["message"],
        detects=raw["detects"].strip(),
        why=raw["why"].strip(),
        docs=raw.get("docs", "").strip(),
        targets=targets,
        default=bool(raw.get("default", True)),
        tokens=prefilter_tokens(_tuple(raw.get("tokens"), where, "tokens"), matchers),
        matchers=matchers,
        fixes=fixes,
        valid=_parse_examples(raw.get("valid"), where, "valid"),
        invalid=_parse_examples(raw.get("invalid"), where, "invalid"),
        has_examples=bool(raw.get("examples", True)),
        source=source,
        device_test=bool(raw.get("device_test", False)),
        reach=_reach(raw.get("reach", ""), where),
    )


def _reach(value, where: str) -> str:
    if value not in ("", "device"):
        raise CatalogueError(f"{where}: reach must be \"device\" (or left out)")
    return value


# Value predicates that hold whatever the file spells: a call matched with one of them is found by
# its callee's name alone, so that name must reach the prefilter.
_SPELLING_FREE = ("absent", "any", "true", "not-none", "not-false", "true-or-unknown", "not-zero",
                  "not-full-window")


def _literal_tail(pattern: str) -> str | None:
    """The last dotted part of a name pattern that is plain text (`MixedPrecision` in
    `torch.distributed.fsdp.MixedPrecision`, `fsdp` in `torch.distributed.fsdp.*`)."""
    parts = [p for p in pattern.split(".") if p and not any(c in p for c in "*?[")]
    return parts[-1] if parts else None


def prefilter_tokens(declared: tuple[str, ...], matchers: Iterable[Matcher]) -> tuple[str, ...]:
    """The rule's declared tokens, widened from its own matchers: every name a matcher finds by
    spelling alone (a name, method, attribute, callee or keyword) holds one of the tokens, so the
    prefilter can never skip a file the rule would report (a file with no `cuda` in it that calls
    `MixedPrecision(param_dtype=torch.float16)`)."""
    tokens = list(declared)

    def need(spelled: str | None) -> None:
        if spelled and not any(t in spelled for t in tokens):
            tokens.append(spelled)

    for m in matchers:
        if m.kind == "name":
            for name in m.names:
                if not any(t in name for t in tokens):
                    need(_literal_tail(name))
        elif m.kind in ("method", "attribute"):
            for name in m.names:
                need(name)
        elif m.kind == "keyword" and m.value in _SPELLING_FREE:
            need(m.keyword)
        elif m.kind == "call" and m.value in _SPELLING_FREE:
            if m.keyword and m.value != "absent" and any(t in m.keyword for t in tokens):
                continue  # found by its keyword, which the file must spell
            if m.callee and not any(any(t in c for t in tokens) for c in m.callee):
                for callee in m.callee:
                    need(_literal_tail(callee))
            for method in m.methods:
                need(method)
    return tuple(tokens)


class Catalogue:
    """All rules, by id, with a digest that changes whenever any rule file changes."""

    def __init__(self, rules: Iterable[Rule], digest: str) -> None:
        self.rules: dict[str, Rule] = {}
        for rule in rules:
            if rule.id in self.rules:
                raise CatalogueError(
                    f"{rule.source}: rule {rule.id} is already defined in {self.rules[rule.id].source}"
                )
            self.rules[rule.id] = rule
        self.digest = digest

    def __iter__(self):
        return iter(sorted(self.rules.values(), key=lambda r: r.id))

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> Rule | None:
        return self.rules.get(rule_id.upper())

    @cached_property
    def tokens(self) -> tuple[str, ...]:
        return tuple(sorted({t for r in self.rules.values() for t in r.tokens}))


def _load_file(text: bytes, source: str) -> list[Rule]:
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{source}: not valid TOML: {exc}") from exc
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise CatalogueError(f"{source}: expected [[rule]] tables")
    return [parse_rule(raw, source) for raw in raw_rules]


def builtin_rule_files() -> list[tuple[str, bytes]]:
    folder = resources.files("porter.rules")
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".toml")), key=lambda p: p.name)
    return [(f"rules/{p.name}", p.read_bytes()) for p in files]


def user_rule_files(paths: Iterable[Path]) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for path in paths:
        if path.is_dir():
            out.extend((str(p), p.read_bytes()) for p in sorted(path.glob("*.toml")))
        elif path.is_file():
            out.append((str(path), path.read_bytes()))
        else:
            raise CatalogueError(f"{path}: rule path does not exist")
    return out


def load_catalogue(extra_paths: Iterable[Path] = (), builtin: bool = True) -> Catalogue:
    """The shipped rules plus the files under `extra_paths`; `builtin=False` loads only the latter."""
    files = (builtin_rule_files() if builtin else []) + user_rule_files(extra_paths)
    digest = hashlib.blake2b(digest_size=16)
    rules: list[Rule] = []
    for source, text in files:
        digest.update(source.encode() + b"\0" + text)
        rules.extend(_load_file(text, source))
    return Catalogue(rules, digest.hexdigest())
