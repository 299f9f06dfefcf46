"""The dev stack's Vault: KV v2, policies that confine a token, and Kubernetes auth.

These are the three things the operator's secrets provisioner relies on for
each Store: a KV path of its own, a policy that confines the tenant to that
path, and a Kubernetes-auth role through which the tenant's ServiceAccount
(and nothing else) logs in and gets that policy.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
from hvac.exceptions import Forbidden, InvalidRequest
from kubernetes import client
from kubernetes.client import ApiClient

from storefleet.dev.components.vault import VaultAccess


def tenant_policy(tenant: str) -> str:
    return f"""
path "secret/data/{tenant}/*" {{
  capabilities = ["create", "read", "update", "delete"]
}}
path "secret/metadata/{tenant}/*" {{
  capabilities = ["list", "read"]
}}
"""


@pytest.fixture
def root(vault: VaultAccess) -> hvac.Client:
    root = hvac.Client(url=vault.url, token=vault.token)
    assert root.is_authenticated()
    return root


@pytest.fixture
def tenant(root: hvac.Client) -> Iterator[str]:
    name = f"acme-{secrets.token_hex(4)}"
    root.sys.create_or_update_policy(name, tenant_policy(name))
    yield name
    root.sys.delete_policy(name)


def test_kv_v2_write_then_read_with_versions(root: hvac.Client, tenant: str) -> None:
    kv = root.secrets.kv.v2
    kv.create_or_update_secret(f"{tenant}/database", secret={"password": "first"})
    kv.create_or_update_secret(f"{tenant}/database", secret={"password": "second"})
    latest = kv.read_secret_version(f"{tenant}/database", raise_on_deleted_version=True)
    assert latest["data"]["data"] == {"password": "second"}
    assert latest["data"]["metadata"]["version"] == 2
    first = kv.read_secret_version(f"{tenant}/database", version=1, raise_on_deleted_version=True)
    assert first["data"]["data"] == {"password": "first"}


def test_a_policy_confines_a_token_to_its_path(root: hvac.Client, tenant: str) -> None:
    root.secrets.kv.v2.create_or_update_secret("globex/database", secret={"password": "theirs"})
    issued = root.auth.token.create(policies=[tenant], ttl="5m", no_default_policy=True)
    confined = hvac.Client(url=root.url, token=issued["auth"]["client_token"])

    confined.secrets.kv.v2.create_or_update_secret(f"{tenant}/api-key", secret={"key": "ours"})
    own = confined.secrets.kv.v2.read_secret_version(
        f"{tenant}/api-key", raise_on_deleted_version=True
    )
    assert own["data"]["data"] == {"key": "ours"}
    with pytest.raises(Forbidden):
        confined.secrets.kv.v2.read_secret_version("globex/database", raise_on_deleted_version=True)
    with pytest.raises(Forbidden):
        confined.sys.list_policies()


@pytest.fixture
def namespace(kube_api: ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(kube_api)
    name = f"test-{secrets.token_hex(4)}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def service_account_token(
    kube_api: ApiClient, namespace: str, name: str, audience: str | None = None
) -> str:
    """A short-lived token from the TokenRequest API, as the kubelet projects into pods.

    Without an audience the token is for the API server itself.
    """
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    spec: dict[str, object] = {"expirationSeconds": 600}
    if audience:
        spec["audiences"] = [audience]
    request = {"spec": spec}
    issued = core.create_namespaced_service_account_token(name, namespace, request)
    token: str = issued.status.token
    return token


@pytest.fixture
def token_reviewer(kube_api: ApiClient, namespace: str) -> Iterator[str]:
    """A ServiceAccount allowed to review tokens: what Vault calls the API server with."""
    rbac = client.RbacAuthorizationV1Api(kube_api)
    binding = f"vault-reviewer-{namespace}"
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": binding},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:auth-delegator",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "vault-reviewer", "namespace": namespace}
            ],
        }
    )
    # Vault calls the TokenReview API with this one, so it is for the API server.
    yield service_account_token(kube_api, namespace, "vault-reviewer")
    rbac.delete_cluster_role_binding(binding)


def test_a_service_account_logs_in_and_gets_only_its_roles_policy(
    root: hvac.Client, tenant: str, kube_api: ApiClient, namespace: str, token_reviewer: str
) -> None:
    mount = f"kubernetes-{secrets.token_hex(4)}"
    root.sys.enable_auth_method("kubernetes", path=mount)
    try:
        root.auth.kubernetes.configure(
            kubernetes_host=kube_api.configuration.host,
            kubernetes_ca_cert=Path(kube_api.configuration.ssl_ca_cert).read_text(),
            token_reviewer_jwt=token_reviewer,
            # Vault does not run in a pod here: there is no local token to fall back to.
            disable_local_ca_jwt=True,
            mount_point=mount,
        )
        root.auth.kubernetes.create_role(
            "storefront",
            bound_service_account_names=["storefront"],
            bound_service_account_namespaces=[namespace],
            policies=[tenant],
            audience="vault",
            ttl="5m",
            mount_point=mount,
        )
        root.secrets.kv.v2.create_or_update_secret(f"{tenant}/database", secret={"user": "acme"})
        root.secrets.kv.v2.create_or_update_secret("globex/database", secret={"user": "globex"})

        jwt = service_account_token(kube_api, namespace, "storefront", "vault")
        tenant_client = hvac.Client(url=root.url)
        login = tenant_client.auth.kubernetes.login("storefront", jwt, mount_point=mount)
        assert sorted(login["auth"]["policies"]) == sorted(["default", tenant])
        assert login["auth"]["metadata"]["service_account_namespace"] == namespace

        read = tenant_client.secrets.kv.v2.read_secret_version(
            f"{tenant}/database", raise_on_deleted_version=True
        )
        assert read["data"]["data"] == {"user": "acme"}
        with pytest.raises(Forbidden):
            tenant_client.secrets.kv.v2.read_secret_version(
                "globex/database", raise_on_deleted_version=True
            )

        # Another ServiceAccount of the same namespace is not bound to the role.
        other = service_account_token(kube_api, namespace, "intruder", "vault")
        with pytest.raises((Forbidden, InvalidRequest)):
            hvac.Client(url=root.url).auth.kubernetes.login("storefront", other, mount_point=mount)
    finally:
        root.sys.disable_auth_method(mount)
