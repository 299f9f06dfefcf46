"""Apache Kafka in KRaft mode: one process that is both broker and controller.

Run from the Kafka jars that dev/maven/kafka/pom.xml pins, resolved from Maven
Central into the cache; no distribution archive is needed, since a broker is
only `kafka.Kafka` on a classpath. The log directory is formatted once with a
generated cluster id, as `kafka-storage.sh format` would. Loopback only, and
one partition per internal topic so a single broker starts quickly.

A second listener, NODE, is for the real node's pods: it listens on loopback
too, but tells clients the broker is at the node's bridge address, where the
relay (components/relay.py) forwards to it. A pod that bootstraps there is
sent back there, never to a loopback address it cannot reach.

Every client authenticates: both client listeners are SASL_PLAINTEXT with
SCRAM-SHA-512 (no TLS: they are on loopback and the stack's own bridge), and
the StandardAuthorizer refuses whatever no ACL allows. One super user,
``storefleet-admin``, holds a password generated on the first start and kept
beside the data (never in the repository); its SCRAM credential is written
into the log directory when it is formatted, so it exists before the broker
takes its first request. The controller listener authenticates with PLAIN
against the same password (KRaft controllers cannot check SCRAM, which lives
in the metadata they serve).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from storefleet.dev.components.base import Component
from storefleet.dev.java import java
from storefleet.dev.mavenresolve import MavenArtifacts
from storefleet.dev.network import NODE_IP
from storefleet.dev.processes import ensure_port_free, port_open, wait_until
from storefleet.dev.secrets_file import generated_password

PORT = int(os.environ.get("STOREFLEET_KAFKA_PORT", "19092"))
CONTROLLER_PORT = PORT + 1
# The listener pods use, through the relay on the node's address.
NODE_PORT = PORT + 2
NODE_ID = 1
ARTIFACTS = MavenArtifacts("kafka")
# Kafka 4 brokers need Java 17.
JAVA_MAJOR = 17
# Modest: it shares two cores and the memory with the rest of the stack.
JVM_OPTIONS = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)

ADMIN_USER: Final = "storefleet-admin"
SECURITY_PROTOCOL: Final = "SASL_PLAINTEXT"
SASL_MECHANISM: Final = "SCRAM-SHA-512"
_SCRAM_LOGIN: Final = "org.apache.kafka.common.security.scram.ScramLoginModule"
_PLAIN_LOGIN: Final = "org.apache.kafka.common.security.plain.PlainLoginModule"

SERVER_PROPERTIES = {
    "process.roles": "broker,controller",
    "node.id": str(NODE_ID),
    "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{CONTROLLER_PORT}",
    "listeners": (
        f"CLIENT://127.0.0.1:{PORT},CONTROLLER://127.0.0.1:{CONTROLLER_PORT},"
        f"NODE://127.0.0.1:{NODE_PORT}"
    ),
    "advertised.listeners": f"CLIENT://127.0.0.1:{PORT},NODE://{NODE_IP}:{NODE_PORT}",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "CLIENT",
    "listener.security.protocol.map": (
        "CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT,NODE:SASL_PLAINTEXT"
    ),
    "sasl.mechanism.inter.broker.protocol": SASL_MECHANISM,
    "sasl.mechanism.controller.protocol": "PLAIN",
    "listener.name.client.sasl.enabled.mechanisms": SASL_MECHANISM,
    "listener.name.node.sasl.enabled.mechanisms": SASL_MECHANISM,
    "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
    # Nothing is allowed that no ACL allows; the admin is the one exception.
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "allow.everyone.if.no.acl.found": "false",
    "super.users": f"User:{ADMIN_USER}",
    "num.partitions": "1",
    # One broker: every internal topic has one replica, and few partitions
    # so the group and transaction coordinators are ready at once.
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "auto.create.topics.enable": "true",
}

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
# The lines that say the server started or stopped.
logger.server.name = kafka.server
logger.server.level = info
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = info
"""


@dataclass(frozen=True)
class KafkaAccess:
    """How a client reaches the broker as a SCRAM user (the admin, or a tenant)."""

    bootstrap_servers: str
    username: str
    password: str
    security_protocol: str = SECURITY_PROTOCOL
    sasl_mechanism: str = SASL_MECHANISM

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }


class Kafka(Component):
    name = "kafka"
    process_names = ("kafka",)

    @property
    def admin_password(self) -> str:
        return generated_password(self.directory / "admin-password")

    def access(self) -> KafkaAccess:
        """The super user's access, for the operator's provisioner and tests."""
        return KafkaAccess(self.bootstrap_servers, ADMIN_USER, self.admin_password)

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{PORT}"

    def install(self) -> None:
        ARTIFACTS.resolve()
        java(JAVA_MAJOR)

    def _java(self, main: str, *args: str, jvm: tuple[str, ...] = ()) -> list[str]:
        classpath = f"{ARTIFACTS.lib_dir}/*"
        log4j = f"-Dlog4j2.configurationFile={self.directory / 'log4j2.properties'}"
        return [str(java(JAVA_MAJOR)), *jvm, log4j, "-cp", classpath, main, *args]

    def _write_config(self) -> Path:
        config = self.directory / "server.properties"
        password = self.admin_password
        scram = f'{_SCRAM_LOGIN} required username="{ADMIN_USER}" password="{password}";'
        plain = (
            f'{_PLAIN_LOGIN} required username="{ADMIN_USER}" password="{password}" '
            f'user_{ADMIN_USER}="{password}";'
        )
        properties = {
            **SERVER_PROPERTIES,
            "log.dirs": str(self.data_dir),
            # The broker's own connections log in as the admin; clients bring their own.
            "listener.name.client.scram-sha-512.sasl.jaas.config": scram,
            "listener.name.node.scram-sha-512.sasl.jaas.config": f"{_SCRAM_LOGIN} required;",
            "listener.name.controller.plain.sasl.jaas.config": plain,
        }
        # It holds the admin's password: readable by this user only.
        config.touch(mode=0o600)
        config.chmod(0o600)
        config.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
        (self.directory / "log4j2.properties").write_text(LOG4J2)
        return config

    def _format(self, config: Path) -> None:
        """Give the log directory a cluster id and the admin's SCRAM credential once;
        later starts reuse it. A directory formatted for another admin password (or
        by an earlier version, with none) is test data: it is formatted anew."""
        marker = self.directory / "admin-scram"
        fingerprint = hashlib.sha256(self.admin_password.encode()).hexdigest()
        if (self.data_dir / "meta.properties").exists():
            if marker.exists() and marker.read_text().strip() == fingerprint:
                return
            shutil.rmtree(self.data_dir)
        cluster_id = _cluster_id()
        # In a Java argument file, not argv: the password would show in `ps`.
        arguments = self.directory / "format.args"
        arguments.touch(mode=0o600)
        arguments.chmod(0o600)
        arguments.write_text(
            "\n".join(
                [
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(config),
                    "-g",
                    "--add-scram",
                    f"{SASL_MECHANISM}=[name={ADMIN_USER},password={self.admin_password}]",
                    "",
                ]
            )
        )
        # The main class too: the launcher expands argument files only before it.
        argv = self._java(f"@{arguments}")
        try:
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
        finally:
            arguments.unlink()
        if result.returncode == 0:
            marker.write_text(fingerprint + "\n")
        if result.returncode != 0:
            raise RuntimeError(
                f"formatting Kafka's log directory failed:\n{result.stdout}{result.stderr}"
            )

    def up(self) -> None:
        self.install()
        proc = self.process("kafka")
        if proc.running():
            return
        for port in (PORT, CONTROLLER_PORT, NODE_PORT):
            ensure_port_free(port, proc)
        config = self._write_config()
        self._format(config)
        proc.start(self._java("kafka.Kafka", str(config), jvm=JVM_OPTIONS))
        wait_until(self._answers, process=proc, what="cluster metadata", timeout=120, interval=0.5)

    def _answers(self) -> bool:
        if not port_open(PORT):
            return False
        # In a thread of its own: `up` may be called from inside a running
        # event loop (an async test's fixture), where asyncio.run is refused.
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self._describe_cluster()).result()

    async def _describe_cluster(self) -> bool:
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.errors import KafkaError

        admin = AIOKafkaAdminClient(**self.access().aiokafka(), request_timeout_ms=3000)
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
        except (KafkaError, OSError):
            return False
        finally:
            await admin.close()
        return bool(cluster.get("brokers"))

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "KAFKA_SECURITY_PROTOCOL": SECURITY_PROTOCOL,
            "KAFKA_SASL_MECHANISM": SASL_MECHANISM,
            "KAFKA_SASL_USERNAME": ADMIN_USER,
            "KAFKA_SASL_PASSWORD": self.admin_password,
        }

    def describe(self) -> str:
        return (
            f"kafka://{self.bootstrap_servers} ({SECURITY_PROTOCOL} {SASL_MECHANISM}, "
            f"super user {ADMIN_USER}; KRaft controller 127.0.0.1:{CONTROLLER_PORT}; "
            f"for pods {NODE_IP}:{NODE_PORT} through the relay)"
        )


def _cluster_id() -> str:
    """What `kafka-storage.sh random-uuid` prints: a UUID as URL-safe base64."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
