"""Query cleaning and typo tolerance shared by both search engines."""

from __future__ import annotations

import pytest

from storefleet.runtime.catalog.search import (
    Vocabulary,
    edit_distance,
    fts5_query,
    tokenize,
    tsquery,
)

VOCABULARY = Vocabulary(
    {"headphones": 40, "headset": 12, "wireless": 30, "laptop": 25, "lamp": 9, "tent": 5}
)


def test_tokenize_folds_case_and_accents_and_drops_syntax() -> None:
    assert tokenize('Café "Noir" OR (x*)') == ["cafe", "noir", "or", "x"]
    assert tokenize("   ") == []


def test_edit_distance_counts_a_swap_once() -> None:
    assert edit_distance("headphones", "haedphones", 2) == 1
    assert edit_distance("laptop", "laptpo", 2) == 1
    assert edit_distance("abc", "xyzxyz", 2) == 3  # beyond the limit: limit + 1


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("hedphones", "headphones"),
        ("headphnoes", "headphones"),
        ("wirelss", "wireless"),
        ("laptp", "laptop"),
        ("head", "head"),  # a prefix of real terms is left for prefix matching
        ("tnet", "tent"),  # a swapped pair is one typo
    ],
)
def test_corrections(typed: str, meant: str) -> None:
    assert VOCABULARY.correct(typed) == meant


def test_short_words_are_not_guessed() -> None:
    assert VOCABULARY.correct("lam") == "lam"  # prefix of lamp: kept
    assert VOCABULARY.correct("xyz") == "xyz"


def test_engine_queries_quote_every_word() -> None:
    assert fts5_query(["wireless", "head"]) == '"wireless"* AND "head"*'
    assert fts5_query(["a", "b"], any_word=True) == '"a"* OR "b"*'
    assert tsquery(["wireless", "head"]) == "wireless:* & head:*"
