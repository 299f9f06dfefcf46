"""The Stripe adapter against stripe-mock, a server that answers like Stripe's
API and validates every request against Stripe's published OpenAPI spec.

stripe-mock is built once from the Go module proxy into
~/.cache/storefleet/stripe-mock-<version>/ (a minute on a cold machine).
It is stateless: it answers each call with Stripe's fixture for that
resource, so these tests check what goes over the wire (parameters Stripe
accepts, idempotency keys, ids, error mapping), not a payment's life cycle —
the sandbox tests do that.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from storefleet.runtime.payments.gateway import GatewayUnavailable
from storefleet.runtime.payments.stripe_gateway import StripeGateway

VERSION = "v0.203.0"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
pytestmark = pytest.mark.asyncio(loop_scope="session")


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def stripe_mock_binary() -> Path:
    folder = Path.home() / ".cache" / "storefleet" / f"stripe-mock-{VERSION}"
    binary = folder / "stripe-mock"
    if binary.exists():
        return binary
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        _unavailable("stripe-mock is not built and Go is not installed to build it")
    folder.mkdir(parents=True, exist_ok=True)
    build = subprocess.run(
        [go, "install", f"github.com/stripe/stripe-mock@{VERSION}"],
        env={**os.environ, "GOBIN": str(folder), "GOFLAGS": "-mod=mod"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if build.returncode != 0 or not binary.exists():
        _unavailable(f"building stripe-mock failed: {build.stderr[-2000:]}")
    return binary


@pytest.fixture(scope="module")
def stripe_mock() -> Iterator[str]:
    binary = stripe_mock_binary()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [str(binary), "-http-addr", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, "stripe-mock exited"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def gateway(stripe_mock: str) -> StripeGateway:
    return StripeGateway("sk_test_" + uuid.uuid4().hex, api_base=stripe_mock)


async def test_authorize_sends_a_manual_capture_payment_intent_with_its_key(
    gateway: StripeGateway,
) -> None:
    key = "order-" + uuid.uuid4().hex + "-authorize"
    result = await gateway.authorize(
        amount_minor=2154, currency="EUR", token="pm_card_visa", idempotency_key=key
    )
    # stripe-mock refuses parameters the real API would refuse (400); this one passed.
    assert result.reference.startswith("pi_")
    assert result.amount_minor == 2154
    assert result.extra["idempotency_key"] == key


async def test_capture_void_and_refund_reach_their_endpoints(gateway: StripeGateway) -> None:
    authorized = await gateway.authorize(
        amount_minor=1000, currency="EUR", token="pm_card_visa", idempotency_key=uuid.uuid4().hex
    )
    captured = await gateway.capture(
        authorized.reference, amount_minor=1000, idempotency_key="capture-" + uuid.uuid4().hex
    )
    assert captured.reference == authorized.reference
    assert captured.extra["idempotency_key"].startswith("capture-")
    refund = await gateway.refund(
        authorized.reference, amount_minor=250, idempotency_key=uuid.uuid4().hex
    )
    assert refund.reference.startswith("re_")
    await gateway.void(authorized.reference, idempotency_key=uuid.uuid4().hex)
    looked_up = await gateway.authorization(authorized.reference)
    assert looked_up.reference == authorized.reference


async def test_an_unreachable_stripe_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    gateway = StripeGateway("sk_test_x", api_base=f"http://127.0.0.1:{dead}", timeout=2)
    with pytest.raises(GatewayUnavailable):
        await gateway.authorize(
            amount_minor=100, currency="EUR", token="pm_card_visa", idempotency_key="k-unreach"
        )
