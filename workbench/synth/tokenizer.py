"""A byte-level BPE tokenizer (GPT-2 style) generated for synthetic models.

The vocabulary is: the 256 bytes in GPT-2's ``bytes_to_unicode`` form, then merges learnt by real
BPE training on a small built-in text (so common words are single tokens), then, when the preset's
vocabulary is larger than what that text can teach, merges made by joining word-start tokens with
common word endings, then the chat family's special tokens. Every merge ``"a b"`` has ``a``, ``b``
and ``ab`` in the vocabulary, which is what llama.cpp's BPE tokenizer needs.

``BPETokenizer`` is a small reference implementation of llama.cpp's BPE for these vocabularies,
used by tests; its pre-tokenizer regexes are exact for ASCII text (``re`` has no ``\\p{L}``).
"""

from __future__ import annotations

import functools
import heapq
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

from workbench.errors import BadInput
from workbench.synth.chat import NORMAL, ChatFamily
from workbench.synth.corpus import CORPUS

FAULT_DUPLICATE_VOCAB = "duplicate-vocab"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable unicode characters (space -> 'Ġ')."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


BYTE_ENCODER: dict[int, str] = _bytes_to_unicode()
BYTE_DECODER: dict[str, int] = {char: byte for byte, char in BYTE_ENCODER.items()}
# GPT-2's token order for the 256 byte tokens: printable bytes first, then the remapped ones.
BYTE_TOKENS: tuple[str, ...] = tuple(sorted(BYTE_ENCODER.values(), key=ord))

_LETTER, _DIGIT, _OTHER = r"[^\W\d_]", r"\d", r"(?:[^\s\w]|_)"
_CONTRACTIONS = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
# llama.cpp's regexes (src/llama-vocab.cpp) with \p{L} -> letters, \p{N} -> digits.
PRE_TOKENIZERS: dict[str, re.Pattern[str]] = {
    "gpt-2": re.compile(
        rf"'s|'t|'re|'ve|'m|'ll|'d| ?{_LETTER}+| ?{_DIGIT}+| ?{_OTHER}+|\s+(?!\S)|\s+"
    ),
    "llama-bpe": re.compile(
        rf"{_CONTRACTIONS}|(?:[^\r\n\w]|_)?{_LETTER}+|{_DIGIT}{{1,3}}| ?{_OTHER}+[\r\n]*"
        r"|\s*[\r\n]+|\s+(?!\S)|\s+"
    ),
    "qwen2": re.compile(
        rf"{_CONTRACTIONS}|(?:[^\r\n\w]|_)?{_LETTER}+|{_DIGIT}| ?{_OTHER}+[\r\n]*"
        r"|\s*[\r\n]+|\s+(?!\S)|\s+"
    ),
}
# llama.cpp takes a pre-token that is a whole vocabulary entry as is for these (ignore_merges).
_IGNORE_MERGES = frozenset({"llama-bpe"})


def pretokenize(text: str, pre: str) -> list[str]:
    return PRE_TOKENIZERS[pre].findall(text)


def byte_level(text: str) -> str:
    """``text`` as a byte-level BPE string (each UTF-8 byte as one printable character)."""
    return "".join(BYTE_ENCODER[b] for b in text.encode("utf-8"))


@functools.lru_cache(maxsize=1)
def trained_merges() -> tuple[tuple[str, str], ...]:
    """All BPE merges the built-in corpus teaches, most frequent first (deterministic)."""
    words = Counter(byte_level(w) for w in pretokenize(CORPUS, "gpt-2"))
    symbols = [list(word) for word in words]
    freq = list(words.values())
    pair_count: Counter[tuple[str, str]] = Counter()
    pair_words: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    for wi, syms in enumerate(symbols):
        for pair in pairwise(syms):
            pair_count[pair] += freq[wi]
            pair_words[pair].add(wi)
    heap = [(-count, pair) for pair, count in pair_count.items()]
    heapq.heapify(heap)
    merges: list[tuple[str, str]] = []
    while heap:
        neg, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -neg or neg == 0:
            continue  # stale heap entry
        merges.append(pair)
        merged = pair[0] + pair[1]
        touched: set[tuple[str, str]] = set()
        for wi in sorted(pair_words.pop(pair, ())):
            syms = symbols[wi]
            for old in pairwise(syms):
                pair_count[old] -= freq[wi]
                touched.add(old)
            i, out = 0, []
            while i < len(syms):
                if i + 1 < len(syms) and (syms[i], syms[i + 1]) == pair:
                    out.append(merged)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            symbols[wi] = out
            for new in pairwise(out):
                pair_count[new] += freq[wi]
                pair_words[new].add(wi)
                touched.add(new)
        pair_count.pop(pair, None)
        for p in touched:
            if pair_count.get(p, 0) > 0:
                heapq.heappush(heap, (-pair_count[p], p))
    return tuple(merges)


def _filler_merges(known: set[str], trained: list[str]) -> Iterator[tuple[str, str]]:
    """Endless merges joining word-start tokens ('Ġ...') with common lowercase word endings."""
    heads = [t for t in trained if t.startswith("Ġ") and len(t) > 1]
    tails = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tails += [t for t in trained if t.isascii() and t.isalpha() and t.islower()]
    tails = list(dict.fromkeys(tails))[:64]
    h = 0
    while True:
        head = heads[h]
        h += 1
        for tail in tails:
            joined = head + tail
            if joined not in known:
                known.add(joined)
                heads.append(joined)
                yield head, tail


@dataclass(frozen=True)
class Vocabulary:
    """A complete GGUF tokenizer: tokens, their types, merges and the special token ids."""

    tokens: tuple[str, ...]
    token_types: tuple[int, ...]
    merges: tuple[str, ...]
    pre_tokenizer: str
    special_ids: dict[str, int]

    def __len__(self) -> int:
        return len(self.tokens)


def minimum_vocab_size(family: ChatFamily) -> int:
    return len(BYTE_TOKENS) + len(family.specials) + 1


def build_vocabulary(size: int, family: ChatFamily, *, fault: str | None = None) -> Vocabulary:
    """A byte-level BPE vocabulary of exactly ``size`` tokens for ``family``.

    ``fault="duplicate-vocab"`` repeats one token, which makes llama.cpp abort when it loads
    the vocabulary (``GGML_ASSERT(id_to_token.size() == token_to_id.size())``).
    """
    if size < minimum_vocab_size(family):
        raise BadInput(f"vocabulary size {size} is too small for {family.name}: "
                       f"at least {minimum_vocab_size(family)} tokens are needed")
    n_bpe = size - len(family.specials)
    tokens = list(BYTE_TOKENS)
    known = set(tokens) | set(family.special_texts)
    merges: list[str] = []
    trained: list[str] = []
    for a, b in trained_merges():
        if len(tokens) >= n_bpe:
            break
        merges.append(f"{a} {b}")
        if a + b not in known:  # two merges can make the same string; the token is listed once
            known.add(a + b)
            trained.append(a + b)
            tokens.append(a + b)
    filler = _filler_merges(known, trained)
    while len(tokens) < n_bpe:
        a, b = next(filler)
        merges.append(f"{a} {b}")
        tokens.append(a + b)
    types = [NORMAL] * len(tokens)
    special_ids = {}
    for text, token_type in family.specials:
        special_ids[text] = len(tokens)
        tokens.append(text)
        types.append(token_type)
    if fault == FAULT_DUPLICATE_VOCAB:
        tokens[n_bpe - 1] = tokens[0]
    elif fault is not None:
        raise BadInput(f"unknown tokenizer fault {fault!r}")
    return Vocabulary(tuple(tokens), tuple(types), tuple(merges), family.pre_tokenizer,
                      special_ids)


class BPETokenizer:
    """Reference encoder/decoder for a ``Vocabulary`` (plain text, no special-token parsing)."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self.token_to_id: dict[str, int] = {}
        for i, token in enumerate(vocab.tokens):
            self.token_to_id.setdefault(token, i)
        self.ranks = {tuple(m.split(" ", 1)): rank for rank, m in enumerate(vocab.merges)}
        self.ignore_merges = vocab.pre_tokenizer in _IGNORE_MERGES

    def _bpe(self, word: str) -> list[str]:
        if self.ignore_merges and word in self.token_to_id:
            return [word]
        parts = list(word)
        while len(parts) > 1:
            rank, i = min((self.ranks.get(pair, len(self.ranks)), i)
                          for i, pair in enumerate(pairwise(parts)))
            if rank == len(self.ranks):
                break
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        return parts

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in pretokenize(text, self.vocab.pre_tokenizer):
            for part in self._bpe(byte_level(piece)):
                if part in self.token_to_id:
                    ids.append(self.token_to_id[part])
                else:  # cannot happen with a consistent vocabulary; llama.cpp does the same
                    ids.extend(self.token_to_id[char] for char in part)
        return ids

    def decode(self, ids: list[int]) -> str:
        text = "".join(self.vocab.tokens[i] for i in ids)
        return bytes(BYTE_DECODER[c] for c in text).decode("utf-8", errors="replace")
