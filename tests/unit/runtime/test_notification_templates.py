"""Notification wording: defaults, languages, branding, money, the sandbox, signatures."""

from __future__ import annotations

import time

import pytest

from storefleet.runtime.notifications.channels import signature, verify_signature
from storefleet.runtime.notifications.templates import (
    TemplateProblem,
    check_template,
    money,
    render,
)
from storefleet.runtime.platform.config.settings import StoreSettings

STORE = StoreSettings(name="Acme Outdoor", primary_color="#123456", accent_color="#abcdef")
ORDER = {
    "order_id": "0b6c3f1e",
    "order_number": "1042",
    "currency": "EUR",
    "total_minor": 123456,
    "lines": [
        {
            "product_name": "Tent <b>XL</b>",
            "variant_name": "Green",
            "quantity": 2,
            "unit_price_minor": 500,
            "line_total_minor": 1000,
        },
    ],
}


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1999, "EUR", "19.99 EUR"),
        (123456, "usd", "1,234.56 USD"),
        (-5, "EUR", "-0.05 EUR"),
        (1500, "JPY", "1,500 JPY"),
    ],
)
def test_money_is_exact(minor: int, currency: str, text: str) -> None:
    assert money(minor, currency) == text


def test_order_paid_in_english_with_branding() -> None:
    out = render("order.paid", ORDER, STORE, "en")
    assert out.subject == "Acme Outdoor: payment received for order 1042"
    assert "1,234.56 EUR" in out.body
    assert "2 x Tent <b>XL</b> (Green)" in out.body, "text mail is not HTML-escaped"
    assert "#123456" in out.html
    assert "Tent &lt;b&gt;XL&lt;/b&gt; (Green)" in out.html, "HTML escapes the data"


def test_german_and_a_language_without_wording() -> None:
    assert render("order.paid", ORDER, STORE, "de").subject.startswith(
        "Acme Outdoor: Zahlung für Bestellung 1042"
    )
    fallback = render("order.paid", ORDER, STORE, "fr")
    assert fallback.language == "en"
    assert "payment received" in fallback.subject


def test_store_overrides_and_missing_fields() -> None:
    out = render(
        "order.shipped", {"order_id": "x1"}, STORE, "en", {"short": "Parcel {{ order_number }}!"}
    )
    assert out.short == "Parcel x1!"
    assert out.subject == "Acme Outdoor: order x1 is on its way", "the rest keeps the default"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ store.name.__class__.__init__.__globals__ }}",
    ],
)
def test_the_sandbox_keeps_templates_from_the_process(source: str) -> None:
    with pytest.raises(TemplateProblem):
        render("order.paid", ORDER, STORE, "en", {"subject": source})


def test_broken_syntax_is_reported() -> None:
    with pytest.raises(TemplateProblem):
        check_template("{% for %}")


def test_webhook_signatures() -> None:
    now = str(int(time.time()))
    header = signature("s3cret", now, b'{"a":1}')
    assert header.startswith("sha256=")
    assert verify_signature("s3cret", now, b'{"a":1}', header)
    assert not verify_signature("s3cret", now, b'{"a":2}', header), "a changed body"
    assert not verify_signature("other", now, b'{"a":1}', header), "another secret"
    old = str(int(time.time()) - 3600)
    assert not verify_signature("s3cret", old, b'{"a":1}', signature("s3cret", old, b'{"a":1}'))
