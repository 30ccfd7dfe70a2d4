"""Message catalogs: every word a resident reads, one TOML file per language.

Adding a language (e.g. Basa Bali) is adding ``catalogs/ban.toml`` with the same keys; the
validator refuses a catalog that misses a key or a placeholder.
"""

from __future__ import annotations

import datetime as dt
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from babel.dates import format_date

DEFAULT_LANGUAGE = "id"


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


_formatter = string.Formatter()


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


@dataclass(frozen=True)
class Catalog:
    code: str  # "id", "en"
    name: str  # shown in the language menu, in its own language
    locale: str  # for babel date formatting
    order: int  # position in the language menu
    texts: dict[str, str]

    def text(self, key: str, **values: Any) -> str:
        template = self.texts.get(key)
        if template is None:
            raise KeyError(f"catalog '{self.code}' has no text '{key}'")
        if not values or "{" not in template:
            return template
        return template.format_map(_Blank(values))  # (str's own formatter: C, not string.py)

    def date(self, day: dt.date) -> str:
        """A date as residents say it, e.g. "Kamis, 3 Des 2026"."""
        return format_date(
            day, format=self.texts.get("format.date", "EEE, d MMM y"), locale=self.locale
        )

    def short_date(self, day: dt.date) -> str:
        """A date in few characters, for SMS and tight screens, e.g. "1 Des"."""
        return format_date(
            day, format=self.texts.get("format.short_date", "d MMM"), locale=self.locale
        )

    def placeholders(self, key: str) -> set[str]:
        return {name for _, name, _, _ in _formatter.parse(self.texts[key]) if name}


def load_catalog(path: Path) -> Catalog:
    with path.open("rb") as f:
        data = tomllib.load(f)
    meta = data.pop("meta", {})
    return Catalog(
        code=path.stem,
        name=str(meta.get("name", path.stem)),
        locale=str(meta.get("locale", path.stem)),
        order=int(meta.get("order", 99)),
        texts=_flatten(data),
    )


def load_catalogs(folder: Path | None = None) -> dict[str, Catalog]:
    """Every catalog in the folder (default: the bundled one), in language-menu order."""
    base = folder or Path(str(resources.files("flows") / "catalogs"))
    catalogs = [load_catalog(p) for p in sorted(base.glob("*.toml"))]
    catalogs.sort(key=lambda c: (c.order, c.code))
    return {c.code: c for c in catalogs}
