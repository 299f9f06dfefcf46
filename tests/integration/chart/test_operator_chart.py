"""The operator's Helm chart: it lints, its schema refuses bad values, and once
installed into the local control plane its replicas become Ready with exactly the
permissions the operator needs."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator

import pytest
from helm_harness import CHART, run_helm
from kubernetes import client
from kubernetes.client import ApiClient

from storefleet.dev.components.kubernetes import Kubernetes
from storefleet.dev.components.kwok import PLACEMENT as KWOK_PLACEMENT


def test_the_chart_lints_clean(helm: str) -> None:
    result = run_helm(helm, "lint", "--strict", str(CHART))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_helm_show_crds_gives_every_crd_as_its_own_document(helm: str) -> None:
    """Helm does not upgrade CRDs, so an upgrade applies ``helm show crds``: it
    joins the chart's files as they are, and each must start its own document."""
    import yaml

    shown = run_helm(helm, "show", "crds", str(CHART))
    assert shown.returncode == 0, shown.stderr
    names = sorted(d["metadata"]["name"] for d in yaml.safe_load_all(shown.stdout) if d)
    expected = ["clusterkopfpeerings.kopf.dev", "stores.storefleet.io", "vendors.storefleet.io"]
    assert names == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--set", "replicas=0"], "at '/replicas': minimum: got 0, want 1"),
        (["--set", "operator.logLevel=LOUD"], "at '/operator/logLevel': value must be one of"),
        (["--set", "integrations.postgres.enabled=true"], "a Secret name is required"),
        (["--set", "integrations.kafka.enabled=true"], "bootstrapServers is required"),
        (["--set", "unknownSetting=1"], "additional properties 'unknownSetting' not allowed"),
    ],
)
def test_bad_values_are_refused_with_a_message_that_says_what_to_fix(
    helm: str, values: list[str], message: str
) -> None:
    result = run_helm(helm, "template", "sf", str(CHART), *values)
    assert result.returncode != 0
    assert message in result.stderr


def test_an_integration_with_its_secret_reaches_the_operator(helm: str) -> None:
    rendered = run_helm(
        helm,
        "template",
        "sf",
        str(CHART),
        "--set",
        "integrations.postgres.enabled=true",
        "--set",
        "integrations.postgres.dsnSecret.name=platform-postgres",
        "--show-only",
        "templates/statefulset.yaml",
    )
    assert rendered.returncode == 0, rendered.stderr
    assert "name: STOREFLEET_OPERATOR_POSTGRES_DSN" in rendered.stdout
    assert "name: platform-postgres" in rendered.stdout


@pytest.fixture
def release(helm: str, kube_api: ApiClient) -> Iterator[tuple[str, str]]:
    name, namespace = f"sf{secrets.token_hex(3)}", f"storefleet-{secrets.token_hex(3)}"
    cluster = Kubernetes()
    client.CoreV1Api(kube_api).create_namespace({"metadata": {"name": namespace}})
    # On KWOK's fake nodes, which repel pods that do not ask for them.
    placement = [
        "--set-json",
        f"nodeSelector={json.dumps(KWOK_PLACEMENT['nodeSelector'])}",
        "--set-json",
        f"tolerations={json.dumps(KWOK_PLACEMENT['tolerations'])}",
    ]
    # The CRDs first, as Helm installs them: the chart's peering object is of one.
    crds = run_helm(helm, "show", "crds", str(CHART))
    rendered = run_helm(helm, "template", name, str(CHART), "--namespace", namespace, *placement)
    assert rendered.returncode == 0, rendered.stderr
    try:
        for documents in (crds.stdout, rendered.stdout):
            # Server-side, forcing ownership of the CRDs other tests may have applied already.
            applied = cluster.kubectl(
                "apply", "--server-side", "--force-conflicts", "--field-manager=helm-test",
                "-f", "-", input=documents,
            )  # fmt: skip
            assert applied.returncode == 0, applied.stderr
            cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        yield name, namespace
    finally:
        # Whatever the chart made, also when applying it failed half-way: its
        # cluster-wide objects would outlive this test (the admission policies
        # would hold every later tenant namespace).
        cluster.kubectl(
            "delete", "--ignore-not-found", "--wait=false", "-f", "-", input=rendered.stdout
        )
        client.CoreV1Api(kube_api).delete_namespace(namespace)


def test_installed_chart_runs_two_replicas_with_least_privilege(
    release: tuple[str, str], kube_api: ApiClient, platform_crds: ApiClient
) -> None:
    """platform_crds: `kubectl auth can-i` answers "no" for an API the cluster lacks,
    so the Istio kinds must be served for their permission to show."""
    name, namespace = release
    apps = client.AppsV1Api(kube_api)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = apps.read_namespaced_stateful_set(f"{name}-storefleet-operator", namespace).status
        if status.ready_replicas == 2:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"the operator's StatefulSet is not ready: {status}")

    pods = client.CoreV1Api(kube_api).list_namespaced_pod(namespace).items
    # Each replica's Kopf peering priority comes from this label: they must differ.
    assert sorted(p.metadata.labels["apps.kubernetes.io/pod-index"] for p in pods) == ["0", "1"]

    account = f"system:serviceaccount:{namespace}:{name}-storefleet-operator"
    expected = {
        ("create", "namespaces", ""): True,
        ("patch", "stores.storefleet.io/status", ""): True,
        ("create", "deployments.apps", "store-acme"): True,
        ("create", "virtualservices.networking.istio.io", "store-acme"): True,
        ("create", "pods", "store-acme"): False,
        ("delete", "nodes", ""): False,
        ("create", "clusterrolebindings.rbac.authorization.k8s.io", ""): False,
        ("create", "customresourcedefinitions.apiextensions.k8s.io", ""): False,
    }
    cluster = Kubernetes()
    answers = {}
    for verb, resource, where in expected:
        scope = ["-n", where] if where else []
        asked = cluster.kubectl("auth", "can-i", verb, resource, f"--as={account}", *scope)
        answers[(verb, resource, where)] = asked.stdout.strip() == "yes"
    assert answers == expected, json.dumps({" ".join(k): v for k, v in answers.items()}, indent=1)


def test_the_chart_ships_the_alert_rules_and_dashboards(helm: str) -> None:
    import yaml

    result = run_helm(
        helm,
        "template",
        "sf",
        str(CHART),
        "--set",
        "metrics.prometheusRule.enabled=true",
        "--set",
        "metrics.grafanaDashboards.enabled=true",
    )
    assert result.returncode == 0, result.stderr
    objects = {d["kind"]: d for d in yaml.safe_load_all(result.stdout) if d}
    rules = yaml.safe_load((CHART.parents[1] / "monitoring" / "alerts.yaml").read_text())
    assert objects["PrometheusRule"]["spec"]["groups"] == rules["groups"]
    dashboards = objects["ConfigMap"]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    titles = {json.loads(text)["title"] for text in dashboards["data"].values()}
    assert titles == {"Storefleet operator", "Storefleet store"}
    # Off by default: a cluster without the Prometheus operator must still install it.
    plain = run_helm(helm, "template", "sf", str(CHART))
    assert "kind: PrometheusRule" not in plain.stdout
