"""Load a config file into a `Config`, turning every problem into `FILE:LINE:COL path: message`.

ruamel.yaml keeps the line and column of every key; pydantic's error locations are mapped back
onto them, so a user sees exactly where the file is wrong and how to fix it.
"""

from __future__ import annotations

import base64
import math
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from velero_gitops import boundary
from velero_gitops.errors import ConfigError

if TYPE_CHECKING:
    from velero_gitops.config.model import Config

Loc = tuple[str | int, ...]
CA_BUNDLE_LIMIT = 1024 * 1024
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # a bundle of a hundred certificates is about 200 KiB


@dataclass(frozen=True)
class ConfigWarning:
    """A config/semantics.py warning, located: `str()` is the `FILE:LINE:COL path: message` line."""

    at: str  # FILE:LINE:COL
    body: str  # path: message
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.at} {self.body}"


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config plus the facts about its file that the plan needs (read here, not in plan)."""

    config: Config
    path: Path  # the config file as given
    display_path: str  # how messages and headers name it (POSIX, relative to the repo root)
    repo_root: Path  # the Git repository root Flux paths are relative to
    ca_bundle_b64: str | None  # base64 of the CA bundle file, when configured
    warnings: tuple[ConfigWarning, ...] = ()  # config/semantics.py warnings: accepted, with numbers to weigh
    positions: Any = None  # the parsed YAML tree, for `where`

    def where(self, *loc: str | int) -> str:
        """`FILE:LINE:COL dotted.path:` for a problem that only a later step (the plan) can see."""
        shown = display(self.path)
        return f"{shown}:{_position(self.positions, loc, value=True)} {_dotted(loc)}:"

    def line(self, *loc: str | int) -> int | None:
        """The line of the value at ``loc`` in the config file; None where it is not known."""
        n = int(_position(self.positions, loc, value=True).split(":")[0])
        return n or None


def display(path: Path) -> str:
    """A path as the user typed it, relative to the working directory when it is inside it."""
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def default_configs(base: Path) -> list[Path]:
    """The configs a command takes when none is named, in folder ``base``: its velero-gitops.yaml, else every
    clusters/*/velero-gitops.yaml (sorted)."""
    here = base / "velero-gitops.yaml"
    if here.is_file():
        return [here]
    return sorted((base / "clusters").glob("*/velero-gitops.yaml"))


def load(path: str | os.PathLike[str]) -> LoadedConfig:
    """Load and validate a config file. Raises ConfigError with every located problem."""
    from dataclasses import replace

    try:
        loaded = _load(Path(path))
    except ConfigError as exc:
        raise ConfigError([_shown(p, path) for p in exc.problems]) from None
    return replace(loaded, warnings=tuple(replace(w, body=_shown(w.body, "")) for w in loaded.warnings))


def _shown(line: str, path: str | os.PathLike[str]) -> str:
    """One message as it may leave the loader: secrets redacted, then long values cut, then on one line
    (a key or value from the file may hold a newline or an escape). The file name the user typed stays."""
    from velero_gitops.config.redact import redact, truncate_values

    name = display(Path(path)) if path else ""
    head, rest = (name, line[len(name):]) if name and line.startswith(name) else ("", line)
    return _printable(head + truncate_values(redact(rest)))


def _printable(line: str) -> str:
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), line)


def _load(path: Path) -> LoadedConfig:
    from pydantic import ValidationError

    from velero_gitops.config.model import Config

    p = Path(path)
    shown = display(p)
    text = _read_config(p, shown)
    tree = _parse(text, shown)

    if tree is None:
        raise ConfigError([f"{shown}:1:1 the config file is empty; see docs/config-reference.md"])
    if not isinstance(tree, dict):
        raise ConfigError([f"{shown}:1:1 the config must be a mapping of keys (cluster, s3, schedules, ...)"])

    bad = _non_finite(tree)
    if bad is not None:
        raise ConfigError([f"{shown}:{_position(tree, bad, value=True)} {_dotted(bad)}: "
                           "infinite or not-a-number values (.inf, .nan, 1e400) are never valid here"])
    refused_tag = _meaning_changing_tag(tree)
    if refused_tag is not None:
        loc, tag = refused_tag
        raise ConfigError([f"{shown}:{_position(tree, loc, value=True)} {_dotted(loc)}: the YAML tag {tag} changes what "
                           "this value means (!!binary decodes base64, !!set and !!omap change its type); write the "
                           "plain value without a tag"])
    try:
        config = Config.model_validate(_plain(tree))
    except ValidationError as exc:
        problems = _merge_typos(shown, tree, exc.errors(include_url=False), text)
        raise ConfigError(sorted(set(problems), key=_sort_key)) from None

    from velero_gitops.config.semantics import problems as semantic_problems

    found = semantic_problems(config)
    located = [(p, f"{shown}:{_position(tree, p.loc, value=True)} {_dotted(p.loc)}: {p.message}") for p in found]
    errors = [line for p, line in located if not p.warning]  # warnings: below, kept apart for check's findings
    if errors:
        raise ConfigError(sorted(errors, key=_sort_key))
    warnings = tuple(ConfigWarning(f"{shown}:{_position(tree, p.loc, value=True)}", f"{_dotted(p.loc)}: {p.message}",
                                   int(_position(tree, p.loc, value=True).split(":")[0]), p.rule)
                     for p in found if p.warning)

    repo_root = (p.parent / config.repo.root).resolve()
    where = _position(tree, ("repo", "root"), value=True)
    if not repo_root.is_dir():  # render would create it: a typo must not become a new tree somewhere else
        raise ConfigError([f"{shown}:{where} repo.root: {display(repo_root)} is not an existing folder; "
                           "repo.root is the Git repository root, relative to this config file"])
    # a config from a pull request cannot move the boundary: its root stays inside the repository holding it
    bound = boundary.of_paths([p.resolve()])
    if bound is not None and not boundary.inside(repo_root, bound):
        raise ConfigError([f"{shown}:{where} repo.root: {display(repo_root)} is outside the repository that holds "
                           f"this config ({display(bound)}); repo.root must stay inside it (use . or a sub-folder)"])
    _check_apps_root(shown, tree, repo_root, config.repo.apps_root)
    ca_b64 = None
    if config.s3.ca_bundle:
        ca_b64 = _read_ca_bundle(shown, tree, p.parent / config.s3.ca_bundle, repo_root)
    try:
        rel = p.resolve().relative_to(repo_root).as_posix()
    except ValueError:
        rel = shown
    _check_schema_locations(shown, tree, config, p.parent, repo_root)
    return LoadedConfig(config=config, path=p, display_path=rel, repo_root=repo_root, ca_bundle_b64=ca_b64,
                        warnings=warnings, positions=tree)


def schema_location_path(config_dir: Path, loc: str, repo_root: Path) -> Path | None:
    """Where a `check.schemaLocations` entry points (a folder or a path template), or None when outside the
    repository: check reads nothing outside it."""
    path = (config_dir / loc).resolve() if not os.path.isabs(loc) else Path(loc).resolve()
    base = Path(str(path).split("{{", 1)[0])
    return path if base == repo_root or repo_root in base.parents else None


def _check_schema_locations(shown: str, tree: Any, config: Config, config_dir: Path, repo_root: Path) -> None:
    for i, loc in enumerate(config.check.schema_locations):
        if loc != "default" and schema_location_path(config_dir, loc, repo_root) is None:
            where = _position(tree, ("check", "schemaLocations", i), value=True)
            raise ConfigError([f"{shown}:{where} check.schemaLocations[{i}]: {loc!r} is outside the repository: check "
                               "reads nothing outside it; use a folder inside the repository, relative to this file"])


# Tags that keep a value what it reads as: the core schema's own types, "!" (plain string), and "value", which
# ruamel gives a plain `=` (read as the text "=" by _plain).
_NEUTRAL_TAGS = {"!"} | {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "value")}


def _meaning_changing_tag(tree: Any) -> tuple[Loc, str] | None:
    """Where the first value with an explicit tag that changes its meaning is (!!binary decodes base64, !!set and
    !!omap change the type, a custom tag is dropped by the round-trip reader and read as text)."""
    stack: list[tuple[Any, Loc]] = [(tree, ())]
    while stack:
        node, loc = stack.pop()
        tag = getattr(getattr(node, "tag", None), "value", None) or (
            node.tag if isinstance(getattr(node, "tag", None), str) else None)
        if isinstance(node, (bytes, bytearray)):
            return loc, "!!binary"
        if tag and tag not in _NEUTRAL_TAGS:
            return loc, tag.replace("tag:yaml.org,2002:", "!!")
        if isinstance(node, dict):
            stack.extend((v, loc + (str(k),)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, loc + (i,)) for i, v in enumerate(node))
    return None


def _check_apps_root(shown: str, tree: Any, repo_root: Path, apps_root: str) -> None:
    """repo.appsRoot stays inside the repository once its symlinks are followed: render writes there and check reads
    there, so a folder linked out of the repository is this field's error, not one per rendered file."""
    here = repo_root
    for part in Path(apps_root).parts:
        here = here / part
        if not here.is_symlink():
            continue
        try:
            target = here.resolve(strict=True)
        except (OSError, RuntimeError):  # dangling or a loop: render would fail on it later, check reads nothing
            target = Path(os.readlink(here))
        if not boundary.inside(target, repo_root):
            rel = here.relative_to(repo_root).as_posix()
            raise ConfigError([f"{shown}:{_position(tree, ('repo', 'appsRoot'), value=True)} repo.appsRoot: {rel} is "
                               f"a symlink to {display(target)}, outside the repository, and velero-gitops writes and "
                               f"checks only inside it: replace {rel} with a real folder, or set repo.appsRoot to a "
                               "folder of the repository"])


def _read_config(p: Path, shown: str) -> str:
    from velero_gitops import safefile
    from velero_gitops.yamlsafe import CONFIG_SIZE_LIMIT

    # The repository is the one the user named the config in (its unresolved path), so a symlinked config cannot
    # define a repository of its own: one that resolves outside is refused before a byte is read.
    bound = boundary.of_paths([p])
    try:
        return safefile.read_text(p, root=bound, limit=CONFIG_SIZE_LIMIT, shown=shown)
    except safefile.FileRefused as exc:
        if exc.kind == "missing":
            raise ConfigError([f"{shown}: config file not found"]) from None
        if exc.kind == "outside-root":
            raise ConfigError([f"{shown}: config file {exc.problem}; copy the config into the repository instead of "
                               "linking to it"]) from None
        where = f"{shown}:{exc.line}:{exc.column} (top level)" if exc.line else shown
        raise ConfigError([f"{where}: config file {exc.problem}"]) from None


def _parse(text: str, shown: str) -> Any:
    """The round-trip tree (keeps key positions), after yamlsafe read the same text within its limits. The tree is
    ruamel's either way: built on libyaml's events where config/rtparse.py proves that the same, else by ruamel."""
    import warnings

    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from velero_gitops import yamlsafe

    def path_of(p: tuple) -> str:
        return yamlsafe.short(yamlsafe.dotted(p)) or "(top level)"

    refused = None
    where_dup = "(top level)"
    try:
        docs = yamlsafe.load_all(text)
        dups = [d for doc in docs for d in doc.duplicates]
        if dups:
            where_dup = path_of(dups[0][1])
    except yamlsafe.YamlRefused as exc:
        if not exc.syntax:  # a limit or an unknown tag: located, with the path that holds it
            where = f"{shown}:{exc.line}:{exc.column}" if exc.line else shown
            raise ConfigError([f"{where} {path_of(exc.path)}: {exc.message}"]) from None
        refused = exc  # a syntax error: ruamel's message below is the one users know
    if refused is None:
        from velero_gitops.config import rtparse

        fast = rtparse.tree(text)  # ruamel's tree, parsed by libyaml; None: ruamel reads it (and words any error)
        if fast is not None:
            return fast
    yaml = YAML(typ="rt")
    _bound_ints(yaml, shown, docs if refused is None else [])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a re-defined anchor is fine, as in Go YAML
            tree = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if exc.context_mark is not None and "quoted scalar" in (exc.context or ""):
            # the scanner only notices at the end of the file: point at the quote that was never closed
            mark = exc.context_mark
            problem = "this quoted string is never closed; add the closing quote"
        where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark else shown
        path = where_dup if refused is None else path_of(refused.path)
        if mark is not None and _is_tab(problem):
            # the parser stops at the tab with the path of the key before it: name the key of the tab's own line
            path = _tab_line_field(text, mark.line) or path
        if "duplicate key" in problem:
            # ruamel adds both values as Python reprs ({'a': 1}): the key is what the user needs
            key = re.match(r"found duplicate key (\"(?:[^\"\\]|\\.)*\"|\S+)", problem)
            problem = f"duplicate key {key.group(1) if key else ''}; each key may appear only once".replace("  ", " ")
        raise ConfigError([f"{where} {path}: {_explained(problem, text, mark.line + 1 if mark else 0)}"]) from None
    except (YAMLError, RecursionError) as exc:
        if refused is None:
            raise ConfigError([f"{shown}: invalid YAML ({' '.join(str(exc).split())})"]) from None
    if refused is not None:  # ruamel read what libyaml refused: libyaml's message, located
        line, col = refused.problem_at
        where = f"{shown}:{line}:{col}" if line else shown
        path = (_tab_line_field(text, line - 1) if line and _is_tab(refused.message) else None) or path_of(refused.path)
        raise ConfigError([f"{where} {path}: {_explained(refused.message, text, line or 0)}"])
    return tree


def _is_tab(problem: str) -> bool:
    """A parser's words for a tab where YAML wants spaces (indentation)."""
    return "'\\t'" in problem or "\t" in problem and "cannot start any token" in problem


def _tab_line_field(text: str, line: int) -> str | None:
    """The key path that line ``line`` (0-based, indented with a tab) holds, as YAML reads it once the tab is spaces:
    the indentation of the line above (a sibling), or one level deeper when that line opens a block (`key:`, `-`).
    The parser's own path is that of the key before the tab (libyaml and ruamel stop there); None when the line
    holds no key, or the text up to it still does not read."""
    from ruamel.yaml import YAML

    lines = text.splitlines()
    here = lines[line].lstrip(" \t") if line < len(lines) else ""
    above = next((x for x in reversed(lines[:line]) if x.strip() and not x.lstrip().startswith("#")), None)
    if not here or here.startswith("#") or above is None:
        return None
    col = len(above) - len(above.lstrip(" "))
    body = above.split(" #", 1)[0].rstrip()[col:]
    if body.startswith("- ") and not here.startswith("- "):
        col += 2  # a key below `- key: value` is a sibling of that key
    if body.endswith(":") or body == "-":
        col += 2
    try:
        tree = YAML(typ="rt").load("\n".join([*lines[:line], " " * col + here]))
    except Exception:  # noqa: BLE001 - any refusal: the parser's own path stands
        return None

    def find(node: Any, path: tuple) -> tuple | None:
        lc = getattr(node, "lc", None)
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
        for k, v in items:
            at = (lc.key(k) if isinstance(node, dict) else lc.item(k)) if lc is not None else None
            if at is not None and at[0] == line:
                return (*path, k)
            found = find(v, (*path, k))
            if found is not None:
                return found
        return None

    found = find(tree, ())
    from velero_gitops import yamlsafe

    return yamlsafe.short(yamlsafe.dotted(found)) if found else None


def _explained(problem: str, text: str, line: int) -> str:
    """A YAML parser's syntax message with what it means in a config and the fix (the parser's words kept last, for
    a search). ``line``: 1-based, where the parser stopped."""
    lines = text.splitlines()
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    key, sep, rest = here.strip().lstrip("- ").partition(": ")
    if _is_tab(problem):
        meaning = "this line is indented with a tab; YAML indents with spaces only: replace the tab with spaces"
    elif "cannot start any token" in problem:
        meaning = ("a plain value cannot start with '@' or '`' (YAML reserves them): quote the value"
                   + (f", e.g. {key}: \"{rest.strip()}\"" if sep else ""))
    elif "expected alphabetic or numeric character" in problem:
        meaning = ("'*' starts a YAML alias (*name): quote a value that starts with it, e.g. ['*'] or "
                   "cron: \"*/15 * * * *\"")
    elif "mapping values are not allowed" in problem:
        meaning = ("': ' inside a plain value starts another key: quote the value"
                   + (f", e.g. {key}: \"{rest.strip()}\"" if sep and ": " in rest else ""))
    elif "sequence entries are not allowed" in problem:
        meaning = ("a '- ' list item cannot follow a key on its line: put each '- item' on its own line below the "
                   "key, or write the list as [a, b]")
    elif "another document" in problem or "single document" in problem:
        meaning = ("a second YAML document (a '---' line): the config is one document; remove the '---' and merge "
                   "what follows into the first")
    else:
        return problem
    return f"{meaning} (YAML: {problem})"


def _bound_ints(yaml: Any, shown: str, docs: list) -> None:
    """ruamel converts an integer with int(), which raises past 4,300 digits: on this loader only, a longer integer
    than 64 bits (intparse) is a config error at its field (no config value is that large), never converted."""
    from velero_gitops import yamlsafe
    from velero_gitops.intparse import yaml_int_fits

    constructor = yaml.constructor
    tag = "tag:yaml.org,2002:int"
    convert = type(constructor).yaml_constructors[tag]

    def bounded(self: Any, node: Any) -> Any:
        if not yaml_int_fits(str(node.value)):
            where = f"{shown}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"
            path = next((p for d in docs for p in _paths_to(d.data, node.value, ())), None)
            field = yamlsafe.short(yamlsafe.dotted(path)) if path else "(top level)"
            raise ConfigError([f"{where} {field}: an integer of {len(node.value)} characters, beyond 64 bits: no "
                               "setting takes a number that large; fix the value"])
        return convert(self, node)

    constructor.yaml_constructors = {**type(constructor).yaml_constructors, tag: bounded}


def _paths_to(node: Any, text: str, path: tuple) -> Any:
    """Key paths under ``node`` whose value is the string ``text`` (yamlsafe keeps an integer beyond 64 bits as a
    string, as Go YAML does)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths_to(v, text, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths_to(v, text, (*path, i))
    elif node == text:
        yield path


def _read_ca_bundle(shown: str, tree: Any, file: Path, repo_root: Path) -> str:
    from velero_gitops import safefile
    from velero_gitops.config.pem import certificate_bundle

    where = _position(tree, ("s3", "caBundle"), value=True)
    try:  # a CA bundle is a few KiB; a FIFO, a device or a link out of the repository is refused
        data = safefile.read_bytes(file, root=repo_root, limit=CA_BUNDLE_LIMIT, shown=display(file))
    except safefile.FileRefused as exc:
        problem = f"cannot read {exc.path} (No such file or directory)" if exc.kind == "missing" else str(exc)
        raise ConfigError([f"{shown}:{where} s3.caBundle: {problem}"]) from None
    try:  # only the certificates: a key pasted into the bundle would land in plaintext helmrelease.yaml
        return base64.b64encode(certificate_bundle(data)).decode("ascii")
    except ValueError as exc:
        raise ConfigError([f"{shown}:{where} s3.caBundle: {display(file)} is not a CA certificate bundle: {exc}"]) from None


def _plain(node: Any) -> Any:
    """ruamel's round-trip types -> plain Python (so pydantic sees dict/list/str/int/float/bool/None)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if hasattr(node, "tag") and hasattr(node, "value"):  # ruamel TaggedScalar: only `=` gets here
        return str(node.value)
    return node


def _non_finite(tree: Any) -> Loc | None:
    """Where the first .inf/.nan float is: no config value can be infinite, and the model would
    only notice it later, at the parent object, one line off."""
    stack: list[tuple[Any, Loc]] = [(tree, ())]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return loc
        if isinstance(node, dict):
            stack.extend((v, loc + (str(k),)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, loc + (i,)) for i, v in enumerate(node))
    return None


def _sort_key(line: str) -> tuple[int, int, str]:
    try:
        _, ln, col = line.split(" ", 1)[0].rsplit(":", 2)
        return int(ln), int(col), line
    except ValueError:
        return 0, 0, line


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def _position(tree: Any, loc: Loc, value: bool = False) -> str:
    """`LINE:COL` of the deepest node of ``loc`` present in the YAML tree (the key itself for mappings)."""
    line, col = 0, 0
    node = tree
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            line, col = node.lc.item(part)  # type: ignore[attr-defined]  # ruamel's CommentedSeq
            node = node[part]
        elif isinstance(part, str) and isinstance(node, dict) and part in node:
            holder = _holder(node, part)
            if value:
                line, col = holder.lc.value(part)
            else:
                line, col = holder.lc.key(part)
            node = node[part]
        else:
            break
    return f"{line + 1}:{col + 1}"


def _holder(node: Any, key: str) -> Any:
    """The mapping that wrote ``key``: ``node`` itself, or the first mapping merged into it with `<<`."""
    if key in node.lc.data:
        return node
    for source in getattr(node, "merge", None) or ():
        src = source[1] if isinstance(source, tuple) else source
        if isinstance(src, dict) and key in src:
            return _holder(src, key)
    return node


def _merge_typos(shown: str, tree: Any, errors: list[Any], text: str = "") -> list[str]:
    """The formatted errors, where an unknown key that is a typo of a missing required key becomes one message at
    the typo, did-you-mean first (`endpont` -> "did you mean 'endpoint'?", not "endpoint missing")."""
    from velero_gitops.config import renames

    missing = {tuple(e["loc"]) for e in errors if e["type"] == "missing"}
    typo_of: dict[tuple, str] = {}
    for e in errors:
        if e["type"] != "extra_forbidden":
            continue
        loc = tuple(e["loc"])
        if _pasted_credential(str(loc[-1]), e.get("input"), _allowed_keys(loc[:-1]), loc[:-1]):
            continue  # no did-you-mean: it would lead the credential into a field
        wanted = [str(m[-1]) for m in missing if m[:-1] == loc[:-1]]
        ours = renames.our_key(loc[:-1], str(loc[-1]))  # another tool's name for a key of ours
        close = ours if ours in wanted else renames.close(str(loc[-1]), wanted)
        if close:
            typo_of[loc] = close
    fixed = {loc[:-1] + (key,) for loc, key in typo_of.items()}
    out = []
    for e in errors:
        loc = tuple(e["loc"])
        if e["type"] == "missing" and loc in fixed:
            continue
        if loc in typo_of:
            from velero_gitops.config.model import velero_field_hint

            key, want = str(loc[-1]), typo_of[loc]
            hint = velero_field_hint(_model_at(loc[:-1]), key) or renames.hint(loc[:-1], key, [want])
            out.append(f"{shown}:{_position(tree, loc)} {_dotted(loc)}: unknown key {key!r}; {hint} "
                       f"(the required key {want!r} is missing)")
            continue
        out.append(_format(shown, tree, e, text))
    return out


def _format(shown: str, tree: Any, err: Any, text: str = "") -> str:  # a pydantic ErrorDetails
    # pydantic adds steps such as "function-after[...]"; a user's key may hold "[" too
    loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p)) or tuple(err["loc"])
    msg: str = err["msg"]
    kind: str = err["type"]
    if kind == "located":  # model.at(): a place below the one pydantic reports
        msg = err["ctx"]["msg"]
        extra: Loc = tuple(err["ctx"]["loc"])
        # A path starting at the root (s3.x, from the Config validator) replaces the location, others extend it.
        loc = extra if loc == () and extra and _is_top_key(extra[0]) else loc + extra
    elif kind == "value_error":
        msg = error_text(err)
    elif kind == "extra_forbidden":
        msg = _unknown_key(loc, err.get("input"))
    elif kind == "missing":
        msg = f"required key '{loc[-1]}' is missing"
        where = _position(tree, loc[:-1])
        return f"{shown}:{where} {_dotted(loc)}: {msg}"
    elif kind in ("literal_error", "enum"):
        msg = msg.replace("Input should be", "must be") + f" (got {_got(err.get('input'))})"
    elif "type" in kind or kind.endswith("_parsing") or kind in ("dict_type", "list_type", "model_type"):
        at_value, at_key = _position(tree, loc, value=True), _position(tree, loc)
        empty = err.get("input") is None and at_value.split(":")[0] != at_key.split(":")[0]  # `key:` and no value
        msg = _type_message(kind, msg, err.get("input"), "" if empty else _source(text, at_value), loc)
        if empty:
            return f"{shown}:{at_key} {_dotted(loc)}: {msg}"
    elif kind in ("greater_than", "less_than", "greater_than_equal", "less_than_equal"):
        msg = msg.replace("Input should be", "must be") + f" (got {_got(err.get('input'))})"
    where = _position(tree, loc, value=kind not in ("extra_forbidden",))
    return f"{shown}:{where} {_dotted(loc)}: {msg}"


# YAML 1.1 booleans that YAML 1.2 (ruamel here, and Kubernetes' sigs.k8s.io/yaml) reads as strings
_YAML11_BOOLEANS = {"yes": True, "y": True, "on": True, "no": False, "n": False, "off": False}


def _source(text: str, where: str) -> str:
    """The scalar as the file writes it at ``where`` (LINE:COL): what the user typed, not what YAML made of it."""
    line, col = (int(x) for x in where.split(":"))
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return ""
    rest = lines[line - 1][col - 1:]
    if rest[:1] in ("'", '"'):
        end = rest.find(rest[0], 1)
        return rest[: end + 1] if end > 0 else rest
    return re.split(r"\s#|[,\]}]", rest, maxsplit=1)[0].strip()


def _type_message(kind: str, msg: str, value: Any, source: str, loc: Loc) -> str:
    """A type error as the user wrote it: the source text, what YAML read it as, and the fix."""
    quoted = source[:1] in ("'", '"')
    if kind == "string_type" and value is None:
        typed = f"YAML reads {source} as no value" if source else "it has no value"
        return f"must be a string, but {typed}: write the value, or '' for an empty string"
    if kind == "string_type" and isinstance(value, bool | int | float) and source:
        what = "a boolean" if isinstance(value, bool) else "a number"
        again = _as_string_problem(loc, source)
        fix = f"quote it ('{source}')" + (f"; quoted, it is refused too: {again}" if again else "")
        return f"must be a string, but YAML reads {source} as {what}: {fix}"
    if kind == "bool_type" and isinstance(value, str):
        if not quoted and value.lower() in _YAML11_BOOLEANS:
            word = "true" if _YAML11_BOOLEANS[value.lower()] else "false"
            return (f"must be a boolean (true or false); {source} is one only in YAML 1.1, and YAML 1.2 (as Kubernetes) "
                    f"reads it as the string {value!r}: write {word}")
        if quoted:
            return f"must be a boolean (true or false) (got {source}): a quoted value is a string; write it without quotes"
        return f"must be a boolean (true or false) (got {source})"
    if kind in ("int_type", "float_type") and isinstance(value, str) and quoted:
        return f"must be a number (got {source}): a quoted value is a string; write it without quotes"
    if value is None:  # `key:` with nothing after it, or `~`/`null`: YAML's null, which no such field takes
        empty = {"list_type": "[] for an empty list", "dict_type": "{} for an empty mapping",
                 "model_type": "{} for an empty mapping"}.get(kind, "the value")
        want = msg.replace("Input should be", "must be").split(" [", 1)[0]
        if kind == "model_type":
            keys = _allowed_keys(loc)
            want = f"must be a mapping of {', '.join(keys)}" if keys else "must be a mapping"
        if _required(loc):
            return f"{want}, but YAML reads {source or 'it'} as no value (null): write its value, it is required"
        return f"{want}, but YAML reads {source or 'it'} as no value (null): write {empty}, or remove the key"
    if kind == "model_type":  # pydantic says "instance of <class>": the user knows keys, not classes
        keys = _allowed_keys(loc)
        got = _got(value) if isinstance(value, dict | list) or not source else source
        return f"must be a mapping of {', '.join(keys)} (got {got})" if keys else f"must be a mapping (got {got})"
    if kind == "bool_type":
        return f"must be a boolean (true or false) (got {source or _got(value)})"
    shown = _got(value) if isinstance(value, dict | list) or not source else source  # a collection: its kind
    return msg.replace("Input should be", "must be") + f" (got {shown})"


def _as_string_problem(loc: Loc, source: str) -> str | None:
    """What the field says of ``source`` as a string (a duration without a unit, ...), or None when it takes it."""
    from pydantic import ValidationError

    model, key = _model_at(loc[:-1]), loc[-1] if loc else None
    if model is None or not isinstance(key, str):
        return None
    try:
        model.model_validate({key: source})
    except ValidationError as exc:
        here = [e for e in exc.errors(include_url=False) if tuple(e["loc"])[:1] == (key,) and e["type"] != "missing"]
        if here:
            return error_text(here[0])
    return None


def _is_top_key(key: str | int) -> bool:
    from velero_gitops.config.model import Config

    return any((f.alias or n) == key for n, f in Config.model_fields.items())


def _got(value: Any) -> str:
    if value is None:
        return "no value (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


# An unknown key holding a credential: a did-you-mean (secretKey -> credentialsKey) would lead the user to commit it.
PASTED_CREDENTIAL = ("this looks like a credential, and credentials never go in this file (it is committed): put the S3 keys in the SOPS-encrypted Secret with `velero-gitops "
                     "encrypt-secret` (s3.credentialsSecret), delete this line, and rotate the key: it was in a file")


def _unknown_key(loc: Loc, value: Any = None) -> str:
    from velero_gitops.config import renames
    from velero_gitops.config.model import velero_field_hint

    key = str(loc[-1]) if loc else ""
    allowed = _allowed_keys(loc[:-1])
    if _pasted_credential(key, value, allowed, loc[:-1]):
        return f"unknown key '{key}'; {PASTED_CREDENTIAL}"
    velero = velero_field_hint(_model_at(loc[:-1]), key)
    if velero:
        return f"unknown key '{key}'; {velero}"
    hint = renames.hint(loc[:-1], key, allowed)
    return f"unknown key '{key}'; {hint}" if hint else f"unknown key '{key}'"


def _pasted_credential(key: str, value: Any, allowed: list[str], loc: Loc) -> bool:
    """An unknown key whose value looks like a credential (config/redact.py would mask it), or whose name says it
    holds one and is no typo of an allowed key nor another tool's name for one (existingSecret names a Secret)."""
    from velero_gitops.config import renames
    from velero_gitops.config.redact import redact, secret_name

    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or value == "":
        return False
    looks = isinstance(value, str) and redact(value) != value
    return looks or secret_name(key) and renames.close(key, allowed) is None and renames.renamed(loc, key) is None


def _allowed_keys(loc: Loc) -> list[str]:
    from pydantic import BaseModel

    model = _model_at(loc)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def error_text(err: Any) -> str:
    """One pydantic error's words as this tool says them: a located problem's own message (model.at), a validator's
    message without pydantic's "Value error, " prefix; the one place that strips it."""
    if err.get("type") == "located":
        return str(err["ctx"]["msg"])
    return str(err["msg"]).removeprefix("Value error, ")


def _required(loc: Loc) -> bool:
    """Whether the field at ``loc`` must be given (its model declares no default)."""
    model, key = _model_at(loc[:-1]), loc[-1] if loc else None
    fields = getattr(model, "model_fields", {})
    field = next((f for n, f in fields.items() if (f.alias or n) == key), None)
    return bool(field is not None and field.is_required())


def _model_at(loc: Loc) -> Any:
    """The model class of the mapping at ``loc`` (list indexes skipped), or None."""
    from pydantic import BaseModel

    from velero_gitops.config.model import Config

    model: Any = Config
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return None
        model = _model_in(field.annotation)
    return model


def _model_in(annotation: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
