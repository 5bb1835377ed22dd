"""How figures read for people: money, per-answer cost, durations, rates, sizes and counts.

Bytes: ``format_bytes`` (memory, one decimal: ``4.4 GiB``) and ``format_size`` (the
terminal's file and plan sizes, two decimals from GiB: ``4.40 GiB``); nothing else formats
bytes (the planner's own reasons and the hardware doctor, below this layer, say GiB in their
sentences).

Rules (the CLI, the GUI and exported reports all use them):
- never scientific notation; thousands separators (``2,880``);
- money: whole dollars from $100, cents from $1, three significant digits below (``$0.075``);
- a cost per answer that would read $0.00 is shown per 1,000 or per million answers
  (``$3.52 per million answers``);
- a figure in a row that names its unit is written in that unit (``in_unit(8850, "ms")`` is
  ``8,850``, never ``8.85 s``); free text picks the unit (``format_ms(8850)`` is ``8.85 s``).
"""

from __future__ import annotations

import math

NA = "n/a"
_SHORT_COUNTS = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))
_PER_ANSWERS = ((1, ""), (1_000, " per 1,000 answers"), (1_000_000, " per million answers"))


def _trim(text: str) -> str:
    """``"2.50"`` -> ``"2.5"``, ``"3.00"`` -> ``"3"`` (only after a decimal point)."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def plain(value: float | None, significant: int = 3) -> str:
    """A number in plain digits with ``significant`` digits kept below 1,000 and trailing zeros
    dropped: 0.075 -> "0.075", 2.5 -> "2.5", 1e-05 -> "0.00001", 2880.4 -> "2,880"."""
    if value is None:
        return NA
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, significant - 1 - magnitude)
    return _trim(f"{value:,.{decimals}f}")


def number(value: float | None, decimals: int = 0) -> str:
    """Fixed decimals with thousands separators: ``number(8850.2)`` -> ``"8,850"``."""
    return NA if value is None else f"{value:,.{decimals}f}"


def money(usd: float | None) -> str:
    """``$2,880``, ``$4.00``, ``$0.35``, ``$0.375``, ``$0.0035``; ``-$5.00``; ``$0``."""
    if usd is None:
        return NA
    if usd == 0:
        return "$0"
    sign, amount = ("-" if usd < 0 else ""), abs(usd)
    if amount >= 100:
        text = f"{amount:,.0f}"
    elif amount >= 1:
        text = f"{amount:,.2f}"
    else:  # three significant digits, at least the cents: $0.375, $0.10, $0.0035
        magnitude = math.floor(math.log10(amount))
        text = f"{amount:.{max(2, 2 - magnitude)}f}"
        whole, cents = text[:text.index(".") + 3], text[text.index(".") + 3:].rstrip("0")
        text = whole + cents
    return f"{sign}${text}"


def answer_cost(usd: float | None, *, sign: bool = True) -> str:
    """A cost per answer: ``$0.012``, or per 1,000 / per million answers when one answer would
    read $0.00 (``$3.52 per million answers``). ``sign=False`` drops the ``$`` (a row named
    "cost ($)")."""
    if usd is None:
        return NA
    if usd == 0:
        return "$0" if sign else "0"
    for count, words in _PER_ANSWERS:
        scaled = usd * count
        if abs(scaled) >= (0.01 if count == 1 else 0.1) or count == _PER_ANSWERS[-1][0]:
            text = money(scaled) + words
            return text if sign else text.replace("$", "", 1)
    raise AssertionError("unreachable")  # pragma: no cover


def format_ms(ms: float | None) -> str:
    """A duration in the unit that reads best: ``850 ms``, ``8.85 s``, ``42.3 s``,
    ``2 min 05 s``, ``1 h 02 min``."""
    if ms is None:
        return NA
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours:,} h {minutes:02d} min"


def rate_value(per_s: float | None) -> str:
    """A speed without its unit: ``37.0``, ``1,234``."""
    if per_s is None:
        return NA
    return f"{per_s:,.0f}" if per_s >= 100 else f"{per_s:.1f}"


def format_rate(per_s: float | None, unit: str = "tok/s") -> str:
    """``37.0 tok/s``, ``1,234 tok/s``."""
    return NA if per_s is None else f"{rate_value(per_s)} {unit}"


_BINARY = ("KiB", "MiB", "GiB", "TiB")


def _binary(n: float, byte_word: str, gib_decimals: int) -> str:
    if abs(n) < 1024:
        return f"{n:.0f} {byte_word}"
    for i, unit in enumerate(_BINARY):
        n /= 1024
        if abs(n) < 1024 or unit == _BINARY[-1]:
            decimals = gib_decimals if i >= 2 else 1
            comma = "," if unit == _BINARY[-1] else ""  # below TiB a figure is under 1,024
            return f"{n:{comma}.{decimals}f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def format_bytes(n: float | None) -> str:
    """Memory in binary units, one decimal: ``512 B``, ``1.5 KiB``, ``4.4 GiB``, ``1.2 TiB``
    (the GUI's figures, the hardware report)."""
    return NA if n is None else _binary(n, "B", 1)


def format_size(n: float | None) -> str:
    """A file's or a plan's size in the terminal, two decimals from GiB on: ``10 bytes``,
    ``1.5 KiB``, ``1.5 MiB``, ``3.00 GiB``, ``1.25 TiB`` (download sizes, disk space, the
    ``files``/``ls``/``estimate``/``inspect`` tables)."""
    return NA if n is None else _binary(n, "bytes", 2)


GiB = 1 << 30


def format_count(count: float | None) -> str:
    """A large count, short: ``100M``, ``2.5B``, ``800k``, ``999``."""
    if count is None:
        return NA
    for limit, suffix in _SHORT_COUNTS:
        if abs(count) >= limit:
            return f"{_trim(f'{count / limit:,.1f}')}{suffix}"
    return f"{count:,.0f}"


def format_energy(joules: float | None) -> str:
    """``84.5 J``, ``12,345 J``."""
    if joules is None:
        return NA
    return f"{joules:,.0f} J" if joules >= 1000 else f"{joules:.1f} J"


def format_power(watts: float | None) -> str:
    """``36.7 W``, ``1,200 W``."""
    if watts is None:
        return NA
    return f"{watts:,.0f} W" if watts >= 100 else f"{watts:.1f} W"


def in_unit(value: float | None, unit: str) -> str:
    """``value`` written in the unit its row names (the row's label carries the unit):
    ms and tokens as whole numbers, tok/s as a speed, $ as a cost per answer, J as energy,
    GiB (``value`` in bytes) with one decimal."""
    if value is None:
        return NA
    if unit in ("ms", "tokens"):
        return number(value)
    if unit == "s":
        return number(value, 2)
    if unit == "tok/s":
        return rate_value(value)
    if unit == "$":
        return answer_cost(value, sign=False)
    if unit.startswith("$ per"):
        return money(value).replace("$", "", 1)
    if unit == "J":
        return format_energy(value).removesuffix(" J")
    if unit == "W":
        return format_power(value).removesuffix(" W")
    if unit == "GiB":
        return f"{value / GiB:,.1f}"
    return plain(value) if isinstance(value, float) else str(value)
