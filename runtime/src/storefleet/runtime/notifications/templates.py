"""What a notification says: Jinja2 templates per event type and language.

Each event type has three templates: ``subject`` (email subject, push and
in-app title), ``body`` (the email's text) and ``short`` (SMS, push and in-app
text). The store may replace any of them per language; the rest fall back to
the defaults below, and a language the store has no wording for falls back to
English. Templates run in Jinja2's sandbox: a store's template can format the
event's data but not reach into the process.

Email goes out as text and as HTML; the HTML wraps the body in the store's
branding (display name, logo, colours) and lists the order's lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from jinja2 import TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment

from storefleet.runtime.platform.config.settings import StoreSettings

PARTS: Final = ("subject", "body", "short")
LANGUAGES: Final = ("en", "de")
# Currencies without minor units (ISO 4217 exponent 0) among those we see.
_ZERO_DECIMAL: Final = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF", "UGX", "XAF", "XOF"})

_ORDER_LINES_EN = """
{%- for line in lines %}
  {{ line.quantity }} x {{ line.name }}  {{ line.total_minor | money(currency) }}
{%- endfor %}"""

DEFAULTS: Final[dict[str, dict[str, dict[str, str]]]] = {
    "order.placed": {
        "en": {
            "subject": "{{ store.name }}: we received your order {{ order_number }}",
            "body": "Thank you for your order {{ order_number }} at {{ store.name }}.\n"
            + _ORDER_LINES_EN
            + "\n\nTotal: {{ total_minor | money(currency) }}\n"
            "We will let you know as soon as your payment is confirmed.",
            "short": "{{ store.name }}: order {{ order_number }} received "
            "({{ total_minor | money(currency) }}).",
        },
        "de": {
            "subject": "{{ store.name }}: Ihre Bestellung {{ order_number }} ist eingegangen",
            "body": "Vielen Dank für Ihre Bestellung {{ order_number }} bei {{ store.name }}.\n"
            + _ORDER_LINES_EN
            + "\n\nSumme: {{ total_minor | money(currency) }}",
            "short": "{{ store.name }}: Bestellung {{ order_number }} eingegangen.",
        },
    },
    "order.paid": {
        "en": {
            "subject": "{{ store.name }}: payment received for order {{ order_number }}",
            "body": "We received your payment of {{ total_minor | money(currency) }} "
            "for order {{ order_number }}.\n"
            + _ORDER_LINES_EN
            + "\n\nWe are getting your order ready to ship.",
            "short": "{{ store.name }}: payment for order {{ order_number }} received.",
        },
        "de": {
            "subject": "{{ store.name }}: Zahlung für Bestellung {{ order_number }} erhalten",
            "body": "Wir haben Ihre Zahlung über {{ total_minor | money(currency) }} "
            "für Bestellung {{ order_number }} erhalten.\n" + _ORDER_LINES_EN,
            "short": "{{ store.name }}: Zahlung für Bestellung {{ order_number }} erhalten.",
        },
    },
    "order.shipped": {
        "en": {
            "subject": "{{ store.name }}: order {{ order_number }} is on its way",
            "body": "Your order {{ order_number }} has shipped."
            "{% if data.carrier %} Carrier: {{ data.carrier }}.{% endif %}"
            "{% if data.tracking_number %} Tracking number: {{ data.tracking_number }}."
            "{% endif %}",
            "short": "{{ store.name }}: order {{ order_number }} has shipped.",
        },
        "de": {
            "subject": "{{ store.name }}: Bestellung {{ order_number }} ist unterwegs",
            "body": "Ihre Bestellung {{ order_number }} wurde versandt."
            "{% if data.tracking_number %} Sendungsnummer: {{ data.tracking_number }}."
            "{% endif %}",
            "short": "{{ store.name }}: Bestellung {{ order_number }} wurde versandt.",
        },
    },
    "order.delivered": {
        "en": {
            "subject": "{{ store.name }}: order {{ order_number }} was delivered",
            "body": "Your order {{ order_number }} was delivered. Enjoy!",
            "short": "{{ store.name }}: order {{ order_number }} delivered.",
        },
    },
    "order.cancelled": {
        "en": {
            "subject": "{{ store.name }}: order {{ order_number }} was cancelled",
            "body": "Your order {{ order_number }} was cancelled."
            "{% if data.reason %} Reason: {{ data.reason }}.{% endif %}"
            " Any payment that was taken will be returned.",
            "short": "{{ store.name }}: order {{ order_number }} cancelled.",
        },
    },
    "order.refunded": {
        "en": {
            "subject": "{{ store.name }}: refund for order {{ order_number }}",
            "body": "We refunded {{ refund_minor | money(currency) }} for order "
            "{{ order_number }}. It may take a few days to appear on your statement.",
            "short": "{{ store.name }}: {{ refund_minor | money(currency) }} refunded "
            "for order {{ order_number }}.",
        },
        "de": {
            "subject": "{{ store.name }}: Erstattung für Bestellung {{ order_number }}",
            "body": "Wir haben {{ refund_minor | money(currency) }} für Bestellung "
            "{{ order_number }} erstattet.",
            "short": "{{ store.name }}: {{ refund_minor | money(currency) }} erstattet.",
        },
    },
    "payment.failed": {
        "en": {
            "subject": "{{ store.name }}: payment for order {{ order_number }} failed",
            "body": "Your payment of {{ total_minor | money(currency) }} for order "
            "{{ order_number }} did not go through. Please try another payment method.",
            "short": "{{ store.name }}: payment for order {{ order_number }} failed.",
        },
    },
}

HTML_LAYOUT: Final = """\
<!doctype html>
<html lang="{{ language }}">
<head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="margin:0;font-family:Helvetica,Arial,sans-serif;background:#f4f4f4">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0">
<tr><td style="background:{{ store.primary_color }};color:#ffffff;padding:16px 24px">
{% if store.logo_url %}<img src="{{ store.logo_url }}" alt="" height="32"> {% endif %}
<strong style="font-size:20px">{{ store.name }}</strong></td></tr>
<tr><td style="background:#ffffff;padding:24px">
<h1 style="font-size:20px;color:{{ store.primary_color }}">{{ subject }}</h1>
{% for paragraph in paragraphs %}<p>{{ paragraph }}</p>
{% endfor %}
{% if lines %}<table cellpadding="4" style="border-collapse:collapse">
{% for line in lines %}<tr><td>{{ line.quantity }} &times;</td><td>{{ line.name }}</td>
<td style="text-align:right">{{ line.total_minor | money(currency) }}</td></tr>
{% endfor %}<tr><td></td><td><strong>Total</strong></td>
<td style="text-align:right;color:{{ store.accent_color }}"><strong>
{{ total_minor | money(currency) }}</strong></td></tr></table>{% endif %}
</td></tr>
<tr><td style="padding:12px 24px;color:#777777;font-size:12px">{{ store.name }}
{% if store.tagline %}&middot; {{ store.tagline }}{% endif %}</td></tr>
</table>
</body>
</html>
"""


def money(minor: Any, currency: Any = "EUR") -> str:
    """``1999, "EUR"`` -> ``"19.99 EUR"``; integer minor units, no float rounding."""
    if isinstance(minor, Undefined) or not isinstance(minor, int) or isinstance(minor, bool):
        return ""
    code = str(currency or "").upper()
    if code in _ZERO_DECIMAL:
        return f"{minor:,} {code}".strip()
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole:,}.{cents:02d} {code}".strip()


class TemplateProblem(ValueError):
    """A template that does not compile or render."""


def _environment(*, html: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=html, keep_trailing_newline=False)
    env.filters["money"] = money
    return env


_TEXT = _environment(html=False)
_HTML = _environment(html=True)
_LAYOUT = _HTML.from_string(HTML_LAYOUT)


def check_template(source: str) -> None:
    """Raise :class:`TemplateProblem` if the source is not a valid template."""
    try:
        _TEXT.parse(source)
    except TemplateError as exc:
        raise TemplateProblem(str(exc)) from None


@dataclass(frozen=True)
class Rendered:
    language: str
    subject: str
    body: str
    short: str
    html: str


def _lines(data: dict[str, Any]) -> list[dict[str, Any]]:
    lines = data.get("lines")
    out: list[dict[str, Any]] = []
    if not isinstance(lines, list):
        return out
    for line in lines:
        if not isinstance(line, dict):
            continue
        quantity = line.get("quantity", 1)
        unit = line.get("unit_price_minor", line.get("price_minor"))
        total = line.get("total_minor", line.get("line_total_minor"))
        if not isinstance(total, int) and isinstance(unit, int) and isinstance(quantity, int):
            total = unit * quantity
        out.append(
            {
                "name": _line_name(line),
                "quantity": quantity,
                "total_minor": total,
            }
        )
    return out


def _line_name(line: dict[str, Any]) -> str:
    name = str(line.get("product_name") or line.get("name") or line.get("sku") or "")
    variant = line.get("variant_name")
    if isinstance(variant, str) and variant and variant.lower() not in ("default", name.lower()):
        return f"{name} ({variant})"
    return name


def context_for(data: dict[str, Any], store: StoreSettings, language: str) -> dict[str, Any]:
    """What every template sees: the store, the event's data and a few conveniences."""
    currency = str(data.get("currency") or store.currency)
    total = data.get("total_minor", data.get("amount_minor"))
    refund = data.get("refund_minor", data.get("refunded_minor", data.get("amount_minor")))
    return {
        "store": {
            "name": store.name,
            "tagline": store.tagline,
            "logo_url": store.logo_url,
            "primary_color": store.primary_color,
            "accent_color": store.accent_color,
        },
        "data": data,
        "language": language,
        "order_number": str(
            data.get("order_number") or data.get("number") or data.get("order_id") or ""
        ),
        "currency": currency,
        "total_minor": total,
        "refund_minor": refund,
        "lines": _lines(data),
    }


def render(
    event_type: str,
    data: dict[str, Any],
    store: StoreSettings,
    language: str,
    overrides: dict[str, str | None] | None = None,
) -> Rendered:
    """Render one event's notification; raises TemplateProblem if a template fails."""
    defaults = DEFAULTS.get(event_type, {})
    chosen_language = language if language in defaults else "en"
    base = defaults.get(chosen_language) or defaults.get("en") or {}
    sources = {part: (overrides or {}).get(part) or base.get(part, "") for part in PARTS}
    if not sources["subject"]:
        raise TemplateProblem(f"no template for {event_type!r}")
    context = context_for(data, store, language if overrides else chosen_language)
    try:
        texts = {
            part: _TEXT.from_string(src).render(context).strip() for part, src in sources.items()
        }
        paragraphs = [p.strip() for p in texts["body"].split("\n\n") if p.strip()]
        # The HTML lists the lines itself; keep the text's list out of its paragraphs.
        if context["lines"]:
            paragraphs = [p for p in paragraphs if not _is_line_list(p, context["lines"])]
        html = _LAYOUT.render({**context, "subject": texts["subject"], "paragraphs": paragraphs})
    except (TemplateError, TypeError, ValueError) as exc:
        raise TemplateProblem(f"{type(exc).__name__}: {exc}") from None
    return Rendered(
        language=context["language"],
        subject=" ".join(texts["subject"].split()),
        body=texts["body"],
        short=texts["short"] or texts["subject"],
        html=html,
    )


def _is_line_list(paragraph: str, lines: list[dict[str, Any]]) -> bool:
    rows = [row.strip() for row in paragraph.splitlines() if row.strip()]
    return len(rows) == len(lines) and all(" x " in row for row in rows)
