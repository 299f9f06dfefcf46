"""The stack's servers are reachable from the real node's pods, on the bridge
address only: the API server through the `kubernetes` Service with a pod's own
ServiceAccount token, the datastores on their ports."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from node_pods import run_python

from storefleet.dev import images
from storefleet.dev.components.kafka import KafkaAccess
from storefleet.dev.components.relay import RELAYED, Relay
from storefleet.dev.components.smtp import Smtp
from storefleet.dev.network import NODE_IP


@pytest.fixture
def namespace(kube_api: ApiClient, node_relay: Relay) -> Iterator[str]:
    name = f"relay-{secrets.token_hex(3)}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def test_a_pod_reaches_the_api_server_through_the_kubernetes_service(
    kube_api: ApiClient, namespace: str
) -> None:
    # What every in-cluster client does: the Service's address, the pod's token,
    # the cluster's CA (so the serving certificate must name that address).
    script = """
import json, os, ssl, urllib.request
account = "/var/run/secrets/kubernetes.io/serviceaccount"
token = open(account + "/token").read()
context = ssl.create_default_context(cafile=account + "/ca.crt")
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
request = urllib.request.Request(
    f"https://{host}:{port}/apis/authentication.k8s.io/v1/selfsubjectreviews",
    data=b'{"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}',
    headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
)
print(json.load(urllib.request.urlopen(request, context=context))["status"]["userInfo"]["username"])
"""
    finished = run_python(kube_api, namespace, "whoami", script)
    assert finished.phase == "Succeeded", finished.logs
    assert finished.logs.strip() == f"system:serviceaccount:{namespace}:default"


def test_a_pod_talks_to_the_datastores_and_mails_through_the_relay(
    kube_api: ApiClient, namespace: str, postgres_dsn: str, redis_url: str, smtp_sink: Smtp
) -> None:
    """Each server itself answers (not just the relay accepting): PostgreSQL's reply to
    an SSL request, Redis refusing an unauthenticated PING, the SMTP sink taking mail."""
    subject = f"relay-{secrets.token_hex(4)}"
    script = f"""
import smtplib, socket, struct
from email.message import EmailMessage
node = "{NODE_IP}"
with socket.create_connection((node, {RELAYED["postgres"]}), timeout=5) as pg:
    pg.sendall(struct.pack("!ii", 8, 80877103))
    print("postgres", pg.recv(1).decode())
with socket.create_connection((node, {RELAYED["redis"]}), timeout=5) as redis:
    redis.sendall(b"PING\\r\\n")
    print("redis", redis.recv(100).decode().split()[0])
message = EmailMessage()
message["Subject"], message["From"], message["To"] = "{subject}", "pod@shop.test", "ops@shop.test"
message.set_content("sent from a pod")
with smtplib.SMTP(node, {RELAYED["smtp"]}, timeout=10) as smtp:
    smtp.send_message(message)
print("smtp sent")
"""
    finished = run_python(kube_api, namespace, "talk", script)
    assert finished.phase == "Succeeded", finished.logs
    lines = finished.logs.splitlines()
    assert lines[0] in {"postgres S", "postgres N"}
    assert lines[1] == "redis -NOAUTH"
    assert lines[2] == "smtp sent"
    assert [m.get_content() for m in smtp_sink.messages() if m["Subject"] == subject] == [
        "sent from a pod\n"
    ]


def test_a_pod_produces_and_consumes_through_the_brokers_node_listener(
    kube_api: ApiClient, namespace: str, kafka_admin: KafkaAccess
) -> None:
    """The broker tells a pod it is at the node's address, so the pod's client never
    tries a loopback address of its own."""
    topic = f"relay-{secrets.token_hex(4)}"
    script = f"""
import asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
servers = "{NODE_IP}:{RELAYED["kafka"]}"
sasl = dict(
    security_protocol="SASL_PLAINTEXT",
    sasl_mechanism="SCRAM-SHA-512",
    sasl_plain_username="{kafka_admin.username}",
    sasl_plain_password="{kafka_admin.password}",
)
async def main():
    producer = AIOKafkaProducer(bootstrap_servers=servers, **sasl)
    await producer.start()
    await producer.send_and_wait("{topic}", b"from a pod")
    await producer.stop()
    consumer = AIOKafkaConsumer(
        "{topic}", bootstrap_servers=servers, auto_offset_reset="earliest", **sasl
    )
    await consumer.start()
    record = await asyncio.wait_for(consumer.getone(), 60)
    await consumer.stop()
    print(record.value.decode())
asyncio.run(main())
"""
    runtime = images.IMAGES["runtime"].reference
    finished = run_python(kube_api, namespace, "kafka", script, image=runtime)
    assert finished.phase == "Succeeded", finished.logs
    assert finished.logs.strip().splitlines()[-1] == "from a pod"


def test_the_relay_listens_on_the_bridge_address_only(node_relay: Relay) -> None:
    pid = node_relay.process("haproxy").pid()
    assert pid is not None
    sockets = subprocess.run(
        ["ss", "-Hltnp"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    relay = [line.split()[3] for line in sockets if f"pid={pid}," in line]
    assert sorted(relay) == sorted(f"{NODE_IP}:{port}" for port in RELAYED.values())
