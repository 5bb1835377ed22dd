"""The pricing table (resources/pricing.json, dated, sourced) plus the user's overrides.

Prices are USD per 1M tokens: ``input``, ``cached_input`` (prompt-cache reads), ``cache_write``
(prompt-cache writes, Anthropic) and ``output``. A model the table does not know is *unknown*
(``lookup`` returns None) and is never priced at zero.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import BadInput

PRICING_FILE = "pricing.json"
_DATE_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest)$")
_RATE_FIELDS = ("input", "cached_input", "cache_write", "output")


@dataclass(frozen=True)
class Price:
    provider: str
    model: str
    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    source: str = ""  # the provider's pricing page
    date: str = ""  # when the row was recorded
    origin: str = "table"  # table | override
    note: str = ""
    via: str = ""  # where the figure was actually read
    as_of: str | None = None  # the date that source gives for it

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.model}"

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "input": self.input,
                "cached_input": self.cached_input, "cache_write": self.cache_write,
                "output": self.output, "source": self.source, "date": self.date,
                "origin": self.origin, "note": self.note, "via": self.via,
                "as_of": self.as_of}


def resources_dir() -> Path:
    """The repository's resources/ folder (next to the workbench package)."""
    return Path(__file__).resolve().parents[2] / "resources"


def _rate(row: Mapping[str, Any], name: str, where: str, required: bool) -> float | None:
    value = row.get(name)
    if value is None:
        if required:
            raise BadInput(f"{where}: '{name}' (USD per 1M tokens) is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BadInput(f"{where}: '{name}' must be a number >= 0, not {value!r}")
    return float(value)


def price_from_row(row: Mapping[str, Any], *, origin: str = "table", where: str = "") -> Price:
    provider = str(row.get("provider") or "").strip().lower()
    model = str(row.get("model") or "").strip()
    where = where or f"price {provider}/{model}"
    if not provider or not model:
        raise BadInput(f"{where}: a price needs a provider and a model")
    return Price(
        provider=provider, model=model,
        input=_rate(row, "input", where, True),  # type: ignore[arg-type]
        output=_rate(row, "output", where, True),  # type: ignore[arg-type]
        cached_input=_rate(row, "cached_input", where, False),
        cache_write=_rate(row, "cache_write", where, False),
        source=str(row.get("source") or ("user override" if origin == "override" else "")),
        date=str(row.get("date") or ""),
        origin=origin,
        note=str(row.get("note") or ""),
        via=str(row.get("via") or ""),
        as_of=str(row["as_of"]) if row.get("as_of") else None,
    )


def _norm(model: str) -> str:
    return model.strip().lower()


class PricingTable:
    """Prices by (provider, model); overrides win over the shipped table."""

    def __init__(self, prices: Iterable[Price], *, updated: str = "", currency: str = "USD") -> (
            None):
        self.updated = updated
        self.currency = currency
        self._prices: dict[tuple[str, str], Price] = {}
        for price in prices:
            self._prices[(price.provider, _norm(price.model))] = price

    def __len__(self) -> int:
        return len(self._prices)

    def all(self) -> list[Price]:
        return sorted(self._prices.values(), key=lambda p: (p.provider, p.model))

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> PricingTable:
        """A copy with ``{"provider/model": {"input": .., "output": .., ...}}`` applied."""
        prices = list(self._prices.values())
        for key, row in (overrides or {}).items():
            provider, _, model = key.partition("/")
            if not model:
                raise BadInput(f"price override {key!r}: use PROVIDER/MODEL")
            prices.append(price_from_row({"provider": provider, "model": model, **row},
                                         origin="override", where=f"price override {key}"))
        return PricingTable(prices, updated=self.updated, currency=self.currency)

    def lookup(self, provider: str, model: str) -> Price | None:
        """The price of ``model`` at ``provider``: exact, then without a date/-latest suffix,
        then with dots read as dashes (claude-sonnet-4.5 = claude-sonnet-4-5)."""
        provider = provider.lower()
        candidates = [_norm(model)]
        stripped = _DATE_SUFFIX.sub("", candidates[0])
        candidates.append(stripped)
        candidates += [c.replace(".", "-") for c in list(candidates)]
        for candidate in candidates:
            price = self._prices.get((provider, candidate))
            if price is not None:
                return price
        # "openai/gpt-4o" at a router: the upstream provider's list price
        if "/" in model:
            upstream, _, name = model.partition("/")
            price = self.lookup(_UPSTREAM_ALIASES.get(upstream.lower(), upstream), name)
            if price is not None:
                return price
        for (p, m), price in self._prices.items():
            if p == provider and m.replace(".", "-") in candidates:
                return price
        return None


_UPSTREAM_ALIASES = {"meta-llama": "meta", "mistralai": "mistral", "google": "google",
                     "x-ai": "xai"}


def load_pricing(path: Path | None = None,
                 overrides: Mapping[str, Mapping[str, Any]] | None = None) -> PricingTable:
    """The shipped table (resources/pricing.json) with ``overrides`` applied."""
    path = path or resources_dir() / PRICING_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"the pricing table {path} is missing") from None
    except json.JSONDecodeError as err:
        raise BadInput(f"the pricing table {path} is not valid JSON (line {err.lineno})") from None
    rows = document.get("prices") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise BadInput(f"the pricing table {path} has no 'prices' list")
    prices = [price_from_row(row, where=f"{path.name} row {i}") for i, row in enumerate(rows)]
    table = PricingTable(prices, updated=str(document.get("updated", "")),
                         currency=str(document.get("currency", "USD")))
    return table.with_overrides(overrides or {})
