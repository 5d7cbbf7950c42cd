"""What a setting is beyond its type and default: its flat name, its CLI flag, its range.

Settings are grouped in sections (rag/settings.py; the vector store's in rag/index/vector_base.py), but each has
one flat name, unique across sections, that users write: the environment variable CITELINE_<NAME>, the flag
--<name> and the keyword of `Settings(...)`. A section's fields are declared with `setting()` and the section
checks them once, in `Section.__post_init__`: the type its default has, the range its metadata gives, then the
section's own rules (`check`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from rag.errors import SettingsError

ENV_PREFIX = "CITELINE_"  # a setting's environment variable is ENV_PREFIX + its flat name in capitals
_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "Path": Path}


def flag(group: str, help: str, flag: str = "", choices: tuple[str, ...] = ()) -> dict[str, Any]:
    """A setting that is a flag of the `rag` commands taking `group` ("settings": all of them; "retrieval",
    "answering": ask, eval, train-reader; "index": index; "serve": serve). rag/apps/cli.py builds the flags from
    it: the flag is --the-flat-name unless `flag` says otherwise; `help` may name {default} and other settings by
    flat name."""
    return {"group": group, "help": help, "flag": flag, "choices": choices}


def setting(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING, name: str = "",
            cli: dict[str, Any] | None = None, low: float | None = None, high: float | None = None,
            meaning: str = "", repr: bool = True) -> Any:
    """A section's field. `name`: its flat name when it is not the field's own ("mode" of the retrieval section
    is retrieval_mode); `cli`: a `flag(...)`; `low`..`high`: its range, `meaning` what the lowest value means
    when it is not just a minimum (0 chunks embedded: "every chunk")."""
    metadata: dict[str, Any] = {}
    if name:
        metadata["name"] = name
    if cli is not None:
        metadata["cli"] = cli
    if low is not None or high is not None:
        metadata["bounds"] = (low, high, meaning)
    return dataclasses.field(default=default, default_factory=factory, metadata=metadata, repr=repr)


def flat_name(f: dataclasses.Field) -> str:
    return f.metadata.get("name", f.name)


def field_type(f: dataclasses.Field) -> type:
    """The field's type from its annotation ("float | None" is a float that may be left unset)."""
    declared = str(f.type).split("|")[0].strip()
    if declared in _TYPES:
        return _TYPES[declared]
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return type(default)


def convert(name: str, raw: str, kind: type) -> Any:
    """An environment variable's text as the setting's type."""
    try:
        if kind is bool:
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if issubclass(kind, Path):
            return Path(raw)
        return raw
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}") from None


class Section:
    """A frozen dataclass of settings that checks its fields when it is made (Python callers may pass anything:
    a message, not a TypeError three calls later)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            _check_type(flat_name(f), value, f)
            if "bounds" in f.metadata:
                _check_bounds(flat_name(f), value, *f.metadata["bounds"])
        self.check()

    def check(self) -> None:
        """The section's own rules, beyond each field's type and range."""


def _check_type(name: str, value: Any, f: dataclasses.Field) -> None:
    kind = field_type(f)
    if value is None and str(f.type).endswith("| None"):
        return
    if issubclass(kind, Path):
        ok, what = isinstance(value, str | os.PathLike), "a path"
    elif kind in (int, float):
        ok = isinstance(value, int | float if kind is float else int) and not isinstance(value, bool)
        ok = ok and value == value  # not NaN
        what = "a number" if kind is float else "a whole number"
    else:
        ok, what = isinstance(value, kind), f"a {kind.__name__}"
    if not ok:
        raise SettingsError(f"the setting {name} must be {what}, not {value!r}")


def _check_bounds(name: str, value: float | None, low: float | None, high: float | None, meaning: str) -> None:
    if value is None:  # a setting left unset (min_confidence: the model's own)
        return
    if high is not None and low == 0 and not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}, got {value}")
    if low is not None and value < low:
        lowest = f"{low:g} ({meaning}) or more" if low == 0 and meaning else f"at least {low:g}"
        raise SettingsError(f"{name} must be {lowest}, got {value}")
    if high is not None and value > high:
        raise SettingsError(f"{name} must be at most {high:g}" + (f": {meaning}" if meaning else "") + f", got {value}")
