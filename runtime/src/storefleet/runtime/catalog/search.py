"""Query parsing and typo tolerance, shared by both search backends.

The engines differ (SQLite FTS5, PostgreSQL tsvector + pg_trgm) but what a
shopper types is cleaned and corrected the same way: each word that matches no
indexed term, not even as a prefix, is replaced by the most common indexed term
within a small edit distance ("hedphones" -> "headphones").
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TERMS = 8


def fold(text: str) -> str:
    """Lowercase and strip accents, as the FTS5 tokenizer does ("Café" -> "cafe")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokenize(text: str) -> list[str]:
    return [word[:40] for word in _WORD.findall(fold(text))][:MAX_TERMS]


def allowed_typos(word: str) -> int:
    if len(word) <= 3:
        return 0
    if len(word) <= 7:
        return 1
    return 2


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a swap counts once); > limit is cut short."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


@dataclass
class Vocabulary:
    """Indexed terms and how many products use each."""

    counts: dict[str, int]

    def __post_init__(self) -> None:
        self._sorted = sorted(self.counts)
        # Only terms of about the typed length can be within the allowed typos.
        self._by_length: dict[int, list[str]] = {}
        for term in self.counts:
            self._by_length.setdefault(len(term), []).append(term)
        self._corrections: dict[str, str] = {}

    def has_prefix(self, word: str) -> bool:
        i = bisect.bisect_left(self._sorted, word)
        return i < len(self._sorted) and self._sorted[i].startswith(word)

    def correct(self, word: str) -> str:
        if word in self.counts or self.has_prefix(word):
            return word
        limit = allowed_typos(word)
        if limit == 0:
            return word
        if word in self._corrections:
            return self._corrections[word]
        best, best_key = word, (limit + 1, 0)
        for length in range(len(word) - limit, len(word) + limit + 1):
            for term in self._by_length.get(length, ()):
                distance = edit_distance(word, term, limit)
                key = (distance, -self.counts[term])
                if distance <= limit and key < best_key:
                    best, best_key = term, key
        if len(self._corrections) < 10_000:
            self._corrections[word] = best
        return best

    def correct_all(self, words: list[str]) -> list[str]:
        return [self.correct(word) for word in words]


def fts5_query(words: list[str], *, any_word: bool = False) -> str:
    """An FTS5 MATCH expression; every word quoted, so user input is never syntax."""
    joiner = " OR " if any_word else " AND "
    return joiner.join(f'"{word}"*' for word in words)


def tsquery(words: list[str], *, any_word: bool = False) -> str:
    """A to_tsquery expression with prefix matching; words are [^\\W_]+ so safe."""
    joiner = " | " if any_word else " & "
    return joiner.join(f"{word}:*" for word in words)


PRICE_BUCKETS: list[tuple[int, int | None]] = [
    (0, 1000),
    (1000, 2500),
    (2500, 5000),
    (5000, 10000),
    (10000, 25000),
    (25000, None),
]
