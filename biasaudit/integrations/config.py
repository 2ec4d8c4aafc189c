"""Project configuration: ``biasaudit.toml``, ``[tool.biasaudit]`` in ``pyproject.toml`` or
``[tool:biasaudit]`` in ``setup.cfg``.

The file is found from the working directory upward (the first directory holding one of them wins;
within a directory ``biasaudit.toml`` comes first, then ``pyproject.toml``, then ``setup.cfg``), or
named with ``--config FILE``.  Command-line flags and explicit keyword arguments override it.

Example ``biasaudit.toml``::

    label = "species"
    sensitive = ["size", "color"]
    non_causal = ["color"]
    reference = "datasets/dogs_cats_reference.csv"   # relative to this file
    fail_on = "high"
    alpha = 0.05

    [[accept]]
    id = "group_attribution:size=small:label=DOG"
    reason = "cats are small; expected"

Paths in the file (``reference``, ``compare``, ``baseline``) are relative to the file's folder.
``reference`` may also be a table of margins: ``[reference.size]`` with ``big = 0.25`` and
``small = 0.75``.
"""
from __future__ import annotations

import configparser
import difflib
import fnmatch
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import InputFileError
from ..limits import LimitError, parse_limit
from ..settings import FAIL_ON_LEVELS
from ..validation import VALIDATORS, SettingError, validate

__all__ = ["Accepted", "Config", "ConfigError", "CONFIG_FILES", "find_config", "load_config",
           "is_accepted"]

#: File names searched in each directory, in order.
CONFIG_FILES = ("biasaudit.toml", "pyproject.toml", "setup.cfg")
SETUP_CFG_SECTION = "tool:biasaudit"


class ConfigError(InputFileError):
    """The configuration file is malformed or holds an unknown key or a wrong type."""


@dataclass(frozen=True)
class Accepted:
    """A finding accepted on purpose: it is reported but never fails a check.

    ``id`` is a finding id, or a pattern with ``*`` (``group_attribution:size=*``).
    """

    id: str
    reason: str = ""

    def matches(self, finding_id: str) -> bool:
        if finding_id == self.id:
            return True
        return "*" in self.id and fnmatch.fnmatchcase(finding_id, self.id.replace("[", "[[]"))

    def to_dict(self) -> dict:
        return {"id": self.id, "reason": self.reason}


def is_accepted(finding_id: str, accept: Iterable) -> Accepted | None:
    """The entry of ``accept`` (Accepted objects or id strings) that covers ``finding_id``, if any."""
    for a in accept or ():
        a = a if isinstance(a, Accepted) else Accepted(str(a))
        if a.matches(finding_id):
            return a
    return None


# key -> (kind, description); kinds: str, strs, float, int, bool, level, path, reference, pairs, accept
KEYS: dict[str, str] = {
    "label": "str", "sensitive": "strs", "non_causal": "strs", "positive": "str", "weight": "str",
    "ids": "strs", "attributes": "strs", "exclude": "strs", "reference": "reference", "compare": "path",
    "reference_group": "pairs", "alpha": "float", "correction": "str", "random_state": "int", "bins": "bins",
    "max_levels": "int", "k_max": "int", "probe": "bool", "fail_on": "level", "baseline": "path",
    "accept": "accept", "limits": "limits",
}
#: Old names still read, with a deprecation note (removed in the next release).
DEPRECATED = {"seed": "random_state", "n_bins": "bins"}
ALIASES = {"non-causal": "non_causal", "max-levels": "max_levels", "k-max": "k_max", "fail-on": "fail_on",
           "reference-group": "reference_group", "id": "ids", **DEPRECATED}


#: FutureWarning for a deprecated key of a configuration file.
DEPRECATED_KEY = "{path}: the key {old!r} is deprecated and will be removed; write {new!r} (the same setting)."


def _warn_deprecated(path, key: str) -> None:
    if key in DEPRECATED:
        import warnings
        warnings.warn(DEPRECATED_KEY.format(path=path, old=key, new=DEPRECATED[key]), FutureWarning, stacklevel=3)


@dataclass(frozen=True)
class Config:
    """Settings read from a configuration file; ``None`` / empty means "not set".

    Attributes mirror the ``scan`` options (``random_state``, ``bins``: one name in Python, on the command
    line and here; ``seed`` and ``n_bins`` are read as deprecated aliases).
    ``reference`` is an absolute path, or a tuple of ``(attribute, value, share)`` rows.
    """

    path: str | None = None
    label: str | None = None
    sensitive: tuple = ()
    non_causal: tuple = ()
    positive: str | None = None
    weight: str | None = None
    ids: tuple = ()
    attributes: tuple = ()
    exclude: tuple = ()
    reference: Any = None
    compare: str | None = None
    reference_group: Mapping[str, str] = field(default_factory=dict)
    alpha: float | None = None
    correction: str | None = None
    random_state: int | None = None
    bins: Any = None
    max_levels: int | None = None
    k_max: int | None = None
    probe: bool | None = None
    fail_on: str | None = None
    baseline: str | None = None
    accept: tuple = ()
    limits: Mapping[str, Any] = field(default_factory=dict)

    def is_set(self, name: str) -> bool:
        value = getattr(self, name)
        return value is not None and value != () and value != {}

    def to_dict(self) -> dict:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "accept":
                v = [a.to_dict() for a in v]
            elif isinstance(v, tuple):
                v = [list(x) if isinstance(x, tuple) else x for x in v]
            elif isinstance(v, Mapping):
                v = dict(v)
            out[f.name] = v
        return out

    def reference_frame(self):
        """The reference as a DataFrame (attribute, value, share), or None."""
        if self.reference is None:
            return None
        import pandas as pd
        if isinstance(self.reference, str):
            from ..loaders import load
            return load(self.reference)
        return pd.DataFrame(list(self.reference), columns=["attribute", "value", "share"])

    def audit_kwargs(self) -> dict:
        """The keyword arguments of :func:`biasaudit.audit` this file sets."""
        names = {"label": "label", "sensitive": "sensitive", "non_causal": "non_causal",
                 "positive": "positive", "weight": "weight", "ids": "ids", "attributes": "attributes",
                 "exclude": "exclude", "reference_group": "reference_group", "alpha": "alpha", "correction": "correction",
                 "random_state": "random_state", "bins": "bins", "max_levels": "max_levels", "k_max": "k_max",
                 "probe": "probe"}
        out = {kw: (list(getattr(self, k)) if isinstance(getattr(self, k), tuple) else getattr(self, k))
               for k, kw in names.items() if self.is_set(k)}
        if "reference_group" in out:
            out["reference_group"] = dict(out["reference_group"])
        if self.reference is not None:
            out["reference"] = self.reference_frame()
        if self.compare is not None:
            from ..loaders import load
            out["compare"] = load(self.compare)
        return out


# ------------------------------------------------------------------ finding and reading
def _has_setup_cfg_section(path: Path) -> bool:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return False
    return parser.has_section(SETUP_CFG_SECTION)


def _has_pyproject_table(path: Path) -> bool:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return False
    return isinstance(doc.get("tool"), dict) and "biasaudit" in doc["tool"]


def find_config(start=None) -> Path | None:
    """The configuration file that applies in ``start`` (default: the working directory), or None.

    Looks in ``start`` and then in each parent directory for ``biasaudit.toml``, a ``pyproject.toml``
    with a ``[tool.biasaudit]`` table, or a ``setup.cfg`` with a ``[tool:biasaudit]`` section.
    """
    here = Path(start if start is not None else Path.cwd()).resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / "biasaudit.toml"
        if candidate.is_file():
            return candidate
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and _has_pyproject_table(candidate):
            return candidate
        candidate = folder / "setup.cfg"
        if candidate.is_file() and _has_setup_cfg_section(candidate):
            return candidate
    return None


def load_config(path=None, *, search: bool = True) -> Config:
    """Read the configuration at ``path``; when ``path`` is None, find it (:func:`find_config`).

    Returns an empty :class:`Config` when nothing is found.
    """
    if path is None:
        found = find_config() if search else None
        if found is None:
            return Config()
        path = found
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"Configuration file not found: {path}.")
    if path.is_dir():
        raise ConfigError(f"{path} is a directory; --config takes a biasaudit.toml or setup.cfg file.")
    if path.name == "setup.cfg" or path.suffix in (".cfg", ".ini"):
        raw = _read_setup_cfg(path)
    else:
        raw = _read_toml(path)
    return _build(raw, path)


def _read_toml(path: Path) -> dict:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text.") from None
    if path.name == "pyproject.toml":
        tool = doc.get("tool", {})
        if not isinstance(tool, dict) or "biasaudit" not in tool:
            raise ConfigError(f"{path} has no [tool.biasaudit] table.")
        doc = tool["biasaudit"]
    elif isinstance(doc.get("tool"), dict) and "biasaudit" in doc["tool"] and len(doc) == 1:
        doc = doc["tool"]["biasaudit"]
    return doc


def _read_setup_cfg(path: Path) -> dict:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigError(f"{path} cannot be parsed: {str(exc).splitlines()[0]}.") from None
    if not parser.has_section(SETUP_CFG_SECTION):
        raise ConfigError(f"{path} has no [{SETUP_CFG_SECTION}] section.")
    out: dict[str, Any] = {}
    for key, text in parser.items(SETUP_CFG_SECTION):
        name = ALIASES.get(key, key)
        _warn_deprecated(path, key)
        kind = KEYS.get(name)
        lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
        if kind in ("strs",):
            out[key] = [p.strip() for ln in lines for p in ln.split(",") if p.strip()]
        elif kind == "accept":  # ids contain commas: one per line
            out[key] = lines
        elif kind in ("pairs", "limits"):
            out[key] = {}
            for ln in (p.strip() for ln in lines for p in ln.split(",") if p.strip()):
                if "=" not in ln:
                    raise ConfigError(f"{path}: {key} expects ATTRIBUTE=VALUE lines, got {ln!r}.")
                k, v = ln.split("=", 1)
                out[key][k.strip()] = v.strip()
        elif kind == "float":
            out[key] = _number(text.strip(), float, key, path)
        elif kind == "int" or (kind == "bins" and "=" not in text):
            out[key] = _number(text.strip(), int, key, path)
        elif kind == "bins":  # COLUMN = EDGES, one per line
            out[key] = lines
        elif kind == "bool":
            low = text.strip().lower()
            if low not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
                raise ConfigError(f"{path}: {key} must be true or false. Got {text.strip()!r} instead.")
            out[key] = low in ("true", "yes", "1", "on")
        else:
            out[key] = text.strip()
    return out


def _number(text: str, kind, key: str, path: Path):
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"{path}: {key} must be {'an integer' if kind is int else 'a number'}. "
                          f"Got {text!r} instead.") from None


def _expect(ok: bool, path: Path, key: str, what: str, value) -> None:
    if not ok:
        raise ConfigError(f"{path}: {key} must be {what}. Got {value!r} instead.")


def _strs(value, path, key) -> tuple:
    if isinstance(value, str):
        value = [value]
    _expect(isinstance(value, list) and all(isinstance(v, str) for v in value), path, key,
            "a list of column names", value)
    return tuple(value)


def _build(raw: Mapping, path: Path) -> Config:
    base = path.parent.resolve()
    values: dict[str, Any] = {"path": str(path.resolve())}
    for key, value in raw.items():
        name = ALIASES.get(key, key)
        _warn_deprecated(path, key)
        if name not in KEYS:
            close = difflib.get_close_matches(name, list(KEYS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else f" Known keys: {', '.join(KEYS)}."
            raise ConfigError(f"{path}: unknown key {key!r}.{hint}")
        kind = KEYS[name]
        if kind == "str":
            _expect(isinstance(value, str), path, key, "a string", value)
            if name in VALIDATORS:
                value = _validated(name, value, path, key)
        elif kind == "strs":
            value = _strs(value, path, key)
        elif kind == "float":
            _expect(isinstance(value, (int, float)) and not isinstance(value, bool), path, key, "a number", value)
            value = _validated(name, value, path, key)
        elif kind == "int":
            _expect(isinstance(value, int) and not isinstance(value, bool), path, key, "an integer", value)
            value = _validated(name, value, path, key)
        elif kind == "limits":
            _expect(isinstance(value, Mapping), path, key, "a table of NAME = VALUE", value)
            value = _limits(value, path, key)
        elif kind == "bins":  # a number of bins, or per column its cut points (or number of bins)
            if isinstance(value, int) and not isinstance(value, bool):
                value = _validated(name, value, path, key)
            else:
                from ..engine.levels import parse_bins
                try:
                    parse_bins(value)
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"{path}: {key}: {exc}") from None
                value = dict(value) if isinstance(value, Mapping) else (list(value) if isinstance(value, list) else value)
        elif kind == "bool":
            _expect(isinstance(value, bool), path, key, "true or false", value)
        elif kind == "level":
            _expect(value in FAIL_ON_LEVELS, path, key, f"one of {', '.join(FAIL_ON_LEVELS)}", value)
        elif kind == "path":
            _expect(isinstance(value, str) and value != "", path, key, "a file path", value)
            value = str((base / value).resolve())
        elif kind == "pairs":
            _expect(isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()), path, key,
                    "a table of ATTRIBUTE = \"VALUE\"", value)
            value = dict(value)
        elif kind == "reference":
            value = _reference(value, path, base, key)
        elif kind == "accept":
            value = _accept(value, path, key)
        values[name] = value
    return Config(**values)


def _validated(name: str, value, path: Path, key: str):
    """The shared validator of setting ``name`` (biasaudit.validation), its message prefixed with the file."""
    try:
        return validate(name, value)
    except SettingError as exc:
        raise ConfigError(f"{path}: {key}: {exc}") from None


def _limits(value: Mapping, path: Path, key: str) -> dict:
    out = {}
    for name, v in value.items():
        try:
            out[str(name)] = parse_limit(str(name), v)
        except LimitError as exc:
            raise ConfigError(f"{path}: {key}: {exc}") from None
    return out


def _reference(value, path: Path, base: Path, key: str):
    if isinstance(value, str):
        _expect(value != "", path, key, "a file path or a table of shares", value)
        return str((base / value).resolve())
    _expect(isinstance(value, Mapping), path, key, "a file path or a table of shares", value)
    rows = []
    for attribute, shares in value.items():
        _expect(isinstance(shares, Mapping), path, f"{key}.{attribute}", "a table of value = share", shares)
        for v, share in shares.items():
            ok = isinstance(share, (int, float)) and not isinstance(share, bool) and 0 <= share <= 1
            _expect(ok, path, f"{key}.{attribute}.{v}", "a share in [0, 1]", share)
            rows.append((str(attribute), str(v), float(share)))
        total = sum(float(s) for s in shares.values())
        _expect(abs(total - 1) <= 1e-6, path, f"{key}.{attribute}", "shares summing to 1", round(total, 6))
    return tuple(rows)


def _accept(value, path: Path, key: str) -> tuple:
    if isinstance(value, (str, Mapping)):
        value = [value]
    _expect(isinstance(value, list), path, key, "a list of finding ids or {id, reason} tables", value)
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(Accepted(item))
            continue
        ok = isinstance(item, Mapping) and isinstance(item.get("id"), str) and \
            isinstance(item.get("reason", ""), str) and set(item) <= {"id", "reason"}
        _expect(ok, path, key, "a finding id or a table with 'id' and 'reason'", item)
        out.append(Accepted(item["id"], item.get("reason", "")))
    return tuple(out)
