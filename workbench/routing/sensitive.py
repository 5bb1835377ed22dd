"""A detector of sensitive data in text: what must never leave this machine.

``detect(text, keywords=..., patterns=...) -> list[Finding]``; a ``Finding`` says the kind, where
it is and a *masked* excerpt: the sensitive text itself is never returned.

Kinds and how each is recognised (docs/serve.md, "The router"):

- ``email``: local@domain.tld (RFC 5321 lengths: local part up to 64 characters, a TLD of letters);
- ``phone``: international (``+`` country code, 8-15 digits: E.164), North American
  ``(415) 555-2671`` / ``415-555-2671`` (area and exchange codes 2-9), national numbers with a
  trunk 0 in groups (``020 7946 0958``, ``06 12 34 56 78``: 9-11 digits); ungrouped digits count
  only after a word such as "phone", "call" or "tel" (conservative: a bare number is not a phone);
- ``card``: 13-19 digits, contiguous or in groups split by one kind of separator (space or dash),
  starting with 2-6 (the card networks' ranges) and passing the Luhn check;
- ``iban``: country code, check digits and the country's length (ISO 13616 registry), mod-97 = 1;
- ``ssn``: US social security numbers ``AAA-GG-SSSS`` (or with spaces; nine digits only after
  "SSN"/"social security"): area not 000, 666 or 900-999, group not 00, serial not 0000;
- ``ip``: IPv4 (dotted quads of 0-255) and IPv6 (checked by ``ipaddress``; at least three groups
  or a four-digit group, so ``a[1::2]`` is not an address);
- ``secret``: API keys by their prefixes (OpenAI ``sk-``, Anthropic ``sk-ant-``, GitHub ``ghp_``
  ``gho_`` ``ghu_`` ``ghs_`` ``ghr_`` ``github_pat_``, Slack ``xoxb-`` ``xoxp-`` ..., AWS ``AKIA``
  ``ASIA``, Google ``AIza``, Hugging Face ``hf_``, Stripe ``sk_live_`` ...), JSON web tokens, PEM
  private keys (``-----BEGIN ... PRIVATE KEY-----``), and a token-like value after the words
  password, passwd, pwd, secret, token, api key or access key (letters and digits, 6-128
  characters, not a run of one character);
- ``keyword`` and ``pattern``: the user's own keywords (case-insensitive, whole words) and
  regular expressions.

Every built-in expression is linear in the text: bounded quantifiers, no nested repetition that
can match the same characters two ways, candidates found by one expression and checked in
Python (tests/unit/test_routing_sensitive.py feeds 100,000 digits, '@', ':' and more).
A user's own regular expression is compiled as given: a catastrophic one is the user's.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from workbench.errors import BadInput

EMAIL, PHONE, CARD, IBAN, SSN, IP, SECRET = "email", "phone", "card", "iban", "ssn", "ip", "secret"
KEYWORD, PATTERN = "keyword", "pattern"
BUILTIN_KINDS = (EMAIL, PHONE, CARD, IBAN, SSN, IP, SECRET)
KINDS = (*BUILTIN_KINDS, KEYWORD, PATTERN)
_EXCERPT_CHARS = 40
_STRONG = {CARD, IBAN, SSN, SECRET, EMAIL, IP}  # a phone overlapping one of these is dropped


@dataclass(frozen=True)
class Finding:
    """One piece of sensitive data: its kind, its span in the text, a masked excerpt."""

    kind: str
    start: int
    end: int
    excerpt_masked: str


# -- masking -----------------------------------------------------------------------------------
def _mask_chars(value: str, *, keep_head: int = 0, keep_tail: int = 0) -> str:
    """Every letter and digit as '*', separators kept; ``keep_head``/``keep_tail`` characters
    stay visible only while they are at most a third of the value."""
    if (keep_head + keep_tail) * 3 > len(value):
        keep_head = keep_tail = 0
    out = []
    last = len(value) - keep_tail
    for i, ch in enumerate(value):
        visible = i < keep_head or i >= last or not ch.isalnum()
        out.append(ch if visible else "*")
    return _cut("".join(out))


def _cut(text: str) -> str:
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS - 1] + "…"


def _mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    tld = domain.rsplit(".", 1)[-1]
    return f"{local[:1]}***@***.{tld}" if len(local) > 2 else f"***@***.{tld}"


# -- checksums ---------------------------------------------------------------------------------
def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check of a card number, given as digits only."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# ISO 13616 registry (SWIFT's IBAN registry): the length of each country's IBAN.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def iban_ok(compact: str) -> bool:
    """ISO 13616: the country's length and mod-97 = 1 (letters as 10..35), given without
    spaces and in capitals."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    remainder = 0
    for ch in rearranged:
        if "0" <= ch <= "9":
            remainder = (remainder * 10 + ord(ch) - 48) % 97
        elif "A" <= ch <= "Z":
            remainder = (remainder * 100 + ord(ch) - 55) % 97
        else:
            return False
    return remainder == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """The SSA's rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return (area != "000" and area != "666" and not area.startswith("9") and group != "00"
            and serial != "0000")


# -- the detectors -----------------------------------------------------------------------------
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9][A-Za-z0-9-]{0,62}"
    r"(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}(?![\w-])")


def _emails(text: str) -> Iterator[Finding]:
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        value = m.group()
        if value.startswith(".") or ".." in value.partition("@")[0]:
            continue
        yield Finding(EMAIL, m.start(), m.end(), _mask_email(value))


def _glued(text: str, start: int, others: str) -> bool:
    """Whether ``text[start]`` continues a word (a letter, a digit or one of ``others`` just
    before it): such a run is part of something else (``v1.2``, ``x4111...``, ``3.1415...``)."""
    if start == 0:
        return False
    before = text[start - 1]
    return before.isalnum() or before in others


# A run of digit groups: each group maximal, one separator between groups (linear: a group can
# only end where a separator or something else follows).
_PHONE_RUN = re.compile(r"[+(\d][\d(]*\)?(?:[ .-]\(?\d+\)?)*")  # starts checked in Python
_GROUP = re.compile(r"\+?\(?\d+\)?")
_PHONE_WORDS = re.compile(r"(?i)\b(?:phone|tel|telephone|mobile|cell|call|fax|whatsapp|sms|"
                          r"text me|ring|number)\b")
_MAX_PHONE_GROUPS = 6


def _phone_window(groups: Sequence[tuple[str, int, int]], context: bool) -> bool:
    """Whether these groups (text, start, end) read as one phone number."""
    digits = "".join(ch for g, _, _ in groups for ch in g if ch.isdigit())
    first = groups[0][0]
    sizes = [sum(ch.isdigit() for ch in g) for g, _, _ in groups]
    if first.startswith("+"):
        return 8 <= len(digits) <= 15 and digits[0] != "0"
    nanp = sizes[-3:] == [3, 3, 4] and len(groups) in (3, 4)
    if nanp and (len(groups) == 3 or groups[0][0] == "1"):
        area, exchange = digits[-10], digits[-7]
        if area in "23456789" and exchange in "23456789":
            return True
    bare = len(groups) == 1
    if bare and context and len(digits) == 10 and digits[0] in "23456789" and (
            digits[3] in "23456789"):
        return True  # 4155552671 after "call me at"
    if digits[0] == "0" and digits[1:2] != "0" and 9 <= len(digits) <= 11:
        if bare:
            return context
        return sizes[0] <= 5 and all(2 <= size <= 8 for size in sizes[1:])
    return False


def _phones(text: str) -> Iterator[Finding]:
    for run in _PHONE_RUN.finditer(text):
        value = run.group()
        if len(value) < 8 or _glued(text, run.start(), "_.+-"):
            continue
        groups = [(g.group(), run.start() + g.start(), run.start() + g.end())
                  for g in _GROUP.finditer(value)]
        total = [0]  # digits before each group: a window's digits without counting them again
        for g, _, _ in groups:
            total.append(total[-1] + len(g) - g.count("+") - g.count("(") - g.count(")"))
        if total[-1] < 8 or _IBAN_HEAD.search(text, max(0, run.start() - 50), run.start()):
            continue
        context: bool | None = None
        i = 0
        while i < len(groups):
            found = None
            for j in range(min(len(groups), i + _MAX_PHONE_GROUPS), i, -1):
                if not 8 <= total[j] - total[i] <= 15:
                    continue
                if context is None:
                    context = bool(_PHONE_WORDS.search(text, max(0, run.start() - 40),
                                                       run.start()))
                if _phone_window(groups[i:j], context):
                    found = j
                    break
            if found is None:
                i += 1
                continue
            start, end = groups[i][1], groups[found - 1][2]
            if not (end < len(text) and (text[end].isalnum() or text[end] == "_")):
                yield Finding(PHONE, start, end, _mask_chars(text[start:end], keep_tail=2))
            i = found


_CARD_RUN = re.compile(r"\d(?:[ -]?\d)*")  # a maximal run; its start is checked in Python
_CARD_GROUP = re.compile(r"\d+")
_MAX_CARD_GROUPS = 5
# what comes before the digits when they are the rest of an IBAN written in groups of four
_IBAN_HEAD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: [A-Za-z0-9]{4}){0,8} $")


def _cards(text: str) -> Iterator[Finding]:
    for run in _CARD_RUN.finditer(text):
        value = run.group()
        if len(value) < 13 or _glued(text, run.start(), "_.,"):
            continue
        groups = [(g.group(), g.start(), g.end()) for g in _CARD_GROUP.finditer(value)]
        total = [0]
        for g, _, _ in groups:
            total.append(total[-1] + len(g))
        if total[-1] < 13 or _IBAN_HEAD.search(text, max(0, run.start() - 50), run.start()):
            continue  # the digits of an IBAN-shaped string are the IBAN detector's to judge
        i = 0
        while i < len(groups):
            found = None
            for j in range(min(len(groups), i + _MAX_CARD_GROUPS), i, -1):
                if not 13 <= total[j] - total[i] <= 19 or groups[i][0][0] not in "23456":
                    continue
                window = groups[i:j]
                separators = {value[a[2]:b[1]] for a, b in itertools.pairwise(window)}
                if len(separators) <= 1 and luhn_ok("".join(g for g, _, _ in window)):
                    found = j
                    break
            if found is None:
                i += 1
                continue
            start = run.start() + groups[i][1]
            end = run.start() + groups[found - 1][2]
            if not (end < len(text) and text[end].isalnum()):
                yield Finding(CARD, start, end, _mask_chars(text[start:end], keep_tail=4))
            i = found


_IBAN_START = re.compile(r"[A-Za-z]{2}\d{2}")  # the country code and check digits
_IBAN_BODY = re.compile(r"[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,31}")


def _ibans(text: str) -> Iterator[Finding]:
    done = 0  # where the last IBAN ended: a start inside it is not tried again
    for head in _IBAN_START.finditer(text):
        start = head.start()
        length = IBAN_LENGTHS.get(text[start:start + 2].upper())
        if length is None or start < done or _glued(text, start, ""):
            continue
        m = _IBAN_BODY.match(text, start)
        if m is None:
            continue
        taken, end = 0, start
        for k, ch in enumerate(m.group()):  # the first ``length`` letters and digits
            if ch != " ":
                taken += 1
                if taken == length:
                    end = start + k + 1
                    break
        if taken < length or (end < len(text) and text[end].isalnum()):
            continue
        if iban_ok(text[start:end].replace(" ", "").upper()):
            done = end
            yield Finding(IBAN, start, end, _mask_chars(text[start:end], keep_head=2))


_SSN = re.compile(r"(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")  # start: in Python
_SSN_BARE = re.compile(r"(?i)\b(?:ssn|social security(?: number| no\.?)?|soc\.? ?sec\.?)"
                       r"[^\d\n]{0,20}(?<!\d)(\d{3})(\d{2})(\d{4})(?!\d)")


def _ssns(text: str) -> Iterator[Finding]:
    for m in _SSN.finditer(text):
        if not _glued(text, m.start(), "-") and ssn_ok(m.group(1), m.group(3), m.group(4)):
            yield Finding(SSN, m.start(), m.end(), _mask_chars(m.group()))
    lowered = text.lower()
    if "ssn" not in lowered and "soc" not in lowered:
        return
    for m in _SSN_BARE.finditer(text):
        if ssn_ok(m.group(1), m.group(2), m.group(3)):
            yield Finding(SSN, m.start(1), m.end(3), "*********")


_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?!\.?\d)")  # octets: in Python
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*")


def _ips(text: str) -> Iterator[Finding]:
    for m in _IPV4.finditer(text):
        octets = m.group().split(".")
        if not _glued(text, m.start(), ".") and all(
                int(o) <= 255 and (o == "0" or not o.startswith("0")) for o in octets):
            yield Finding(IP, m.start(), m.end(), _mask_chars(m.group()))
    if text.count(":") < 2:
        return
    for m in _IPV6.finditer(text):
        value = m.group().rstrip(".")
        end = m.start() + len(value)
        if value.count(":") < 2 or len(value) > 45 or (
                end < len(text) and (text[end].isalnum() or text[end] == "_")):
            continue
        groups = [g for g in value.split(":") if g]
        if not (len(groups) >= 3 or any(len(g) == 4 for g in groups)):
            continue
        if "." in value and groups[-1].count(".") != 3:  # only an IPv4 tail may have dots
            continue
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            continue
        yield Finding(IP, m.start(), end, _mask_chars(value))


@dataclass(frozen=True)
class _SecretPattern:
    hint: str  # a substring that must occur for the expression to be tried (fast)
    regex: re.Pattern[str]
    masked: str  # the excerpt: the kind of key, nothing of the key itself
    needs_digit: bool = False


_B = r"(?<![A-Za-z0-9_-])"  # a token starts here
_E = r"(?![A-Za-z0-9_-])"  # and ends here
_SECRETS = (
    _SecretPattern("sk-ant-", re.compile(_B + r"sk-ant-[A-Za-z0-9_-]{20,400}"), "sk-ant-****"),
    _SecretPattern("sk-", re.compile(_B + r"sk-(?!ant-)[A-Za-z0-9_-]{20,400}" + _E), "sk-****",
                   needs_digit=True),
    _SecretPattern("gh", re.compile(_B + r"gh[pousr]_[A-Za-z0-9]{30,255}" + _E), "gh****"),
    _SecretPattern("github_pat_", re.compile(_B + r"github_pat_[A-Za-z0-9_]{22,255}"),
                   "github_pat_****"),
    _SecretPattern("xox", re.compile(_B + r"xox[abeoprs]-[A-Za-z0-9-]{10,255}" + _E), "xox****"),
    _SecretPattern("A", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}"
                                   r"(?![A-Z0-9])"), "AKIA****"),
    _SecretPattern("AIza", re.compile(_B + r"AIza[0-9A-Za-z_-]{35}" + _E), "AIza****"),
    _SecretPattern("hf_", re.compile(_B + r"hf_[A-Za-z0-9]{30,64}" + _E), "hf_****"),
    _SecretPattern("_live_", re.compile(_B + r"(?:sk|rk|pk)_live_[0-9A-Za-z]{16,255}" + _E),
                   "sk_live_****"),
    _SecretPattern("eyJ", re.compile(_B + r"eyJ[A-Za-z0-9_-]{8,2000}\.eyJ[A-Za-z0-9_-]{8,8000}"
                                     r"\.[A-Za-z0-9_-]{8,2000}"), "eyJ****"),
    _SecretPattern("PRIVATE KEY", re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY( BLOCK)?"
                                             r"-----"), "-----BEGIN ... PRIVATE KEY-----"),
)
_SECRET_WORDS = re.compile(
    r"(?i)\b(?:password|passwd|passphrase|pwd|secret(?:[ _-]?key)?|token|client[ _-]?secret|"
    r"(?:api|access|auth|private)[ _-]?(?:key|token))s?\b[\"']?"
    r"(?:\s{0,4}(?:[:=]|is|was|->)\s{0,4}|\s{1,4})[\"'`]?"
    r"([A-Za-z0-9_\-+/=.!@#$%^&*~?]{6,128})")
_WORD_HINTS = ("pass", "pwd", "secret", "token", "key")


def _token_like(value: str) -> bool:
    """Letters and digits (code such as ``get_token()`` or ``os.environ`` is not a secret),
    with some entropy (``aaaa11`` is not one either)."""
    if not (any(ch.isalpha() for ch in value) and any(ch.isdigit() for ch in value)):
        return False
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 2.3


def _secrets(text: str) -> Iterator[Finding]:
    for pattern in _SECRETS:
        if pattern.hint not in text:
            continue
        for m in pattern.regex.finditer(text):
            if pattern.needs_digit and not any(ch.isdigit() for ch in m.group()):
                continue
            yield Finding(SECRET, m.start(), m.end(), pattern.masked)
    lowered = text.lower()
    if not any(hint in lowered for hint in _WORD_HINTS):
        return
    for m in _SECRET_WORDS.finditer(text):
        value = m.group(1).rstrip(".,;:!?")
        if len(value) >= 6 and _token_like(value):
            yield Finding(SECRET, m.start(1), m.start(1) + len(value), "****")


_BUILTIN = {EMAIL: _emails, PHONE: _phones, CARD: _cards, IBAN: _ibans, SSN: _ssns, IP: _ips,
            SECRET: _secrets}


def _compile_keywords(keywords: Iterable[str]) -> re.Pattern[str] | None:
    words = sorted({k.strip() for k in keywords if k and k.strip()}, key=len, reverse=True)
    if not words:
        return None
    parts = []
    for word in words:
        head = r"(?<!\w)" if word[0].isalnum() or word[0] == "_" else ""
        tail = r"(?!\w)" if word[-1].isalnum() or word[-1] == "_" else ""
        parts.append(head + re.escape(word) + tail)
    return re.compile("|".join(parts), re.IGNORECASE)


def compile_patterns(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    """The user's regular expressions, compiled; BadInput names the one that is not valid."""
    compiled = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise BadInput(f"a sensitive-data pattern must be a non-empty string, not "
                           f"{pattern!r}")
        try:
            compiled.append(re.compile(pattern))
        except re.error as err:
            raise BadInput(f"the sensitive-data pattern {pattern!r} is not a valid regular "
                           f"expression: {err}") from None
    return tuple(compiled)


class Detector:
    """The built-in detectors (``kinds``) plus the user's keywords and regular expressions,
    compiled once; ``detect(text)`` is safe to call from several threads."""

    def __init__(self, *, keywords: Iterable[str] = (), patterns: Iterable[str] = (),
                 kinds: Iterable[str] = BUILTIN_KINDS) -> None:
        self.kinds = tuple(kinds)
        unknown = [k for k in self.kinds if k not in _BUILTIN]
        if unknown:
            raise BadInput(f"unknown sensitive-data kind {unknown[0]!r}: use "
                           f"{', '.join(BUILTIN_KINDS)}")
        self.keywords = tuple(keywords)
        self._keywords = _compile_keywords(self.keywords)
        self._patterns = compile_patterns(patterns)

    def detect(self, text: str) -> list[Finding]:
        """Every finding in ``text``, in order of position (see the module)."""
        return self._scan(text, first_only=False)

    def first_of_each(self, text: str) -> list[Finding]:
        """The first finding of each kind: what the router needs (which kinds are there), at
        a fraction of the cost on a text full of one kind (a log full of IP addresses)."""
        return self._scan(text, first_only=True)

    def _scan(self, text: str, *, first_only: bool) -> list[Finding]:
        found: list[Finding] = []
        for kind in self.kinds:
            findings = _BUILTIN[kind](text)
            if first_only:
                first = next(iter(findings), None)
                found.extend([first] if first is not None else [])
            else:
                found.extend(findings)
        if self._keywords is not None:
            for m in self._keywords.finditer(text):
                found.append(Finding(KEYWORD, m.start(), m.end(), m.group()[:1] + "***"))
                if first_only:
                    break
        for pattern in self._patterns:
            for m in pattern.finditer(text):
                if m.end() > m.start():
                    found.append(Finding(PATTERN, m.start(), m.end(), "***"))
                    if first_only:
                        break
        return _resolve(found)


def _resolve(found: list[Finding]) -> list[Finding]:
    """In order of position; a phone number inside a stronger finding (a card, an IBAN, ...)
    is the same digits read twice and is dropped."""
    strong = [f for f in found if f.kind in _STRONG]
    kept = [f for f in found if f.kind != PHONE
            or not any(s.start < f.end and f.start < s.end for s in strong)]
    return sorted(kept, key=lambda f: (f.start, f.end, f.kind))


@functools.lru_cache(maxsize=32)
def _cached(keywords: tuple[str, ...], patterns: tuple[str, ...]) -> Detector:
    return Detector(keywords=keywords, patterns=patterns)


def detect(text: str, *, keywords: Sequence[str] = (), patterns: Sequence[str] = ()) -> (
        list[Finding]):
    """The sensitive data in ``text`` (kinds: the module docstring), masked."""
    return _cached(tuple(keywords), tuple(patterns)).detect(text)


def kinds_of(findings: Iterable[Finding]) -> tuple[str, ...]:
    """The kinds found, each once, in the order of ``KINDS``."""
    seen = {f.kind for f in findings}
    return tuple(k for k in KINDS if k in seen)
