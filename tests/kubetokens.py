"""ServiceAccount tokens from the API server's TokenRequest, for tests that log in as a pod."""

from __future__ import annotations

from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException


def service_account_token(
    kube_api: ApiClient, namespace: str, name: str, audience: str | None = None
) -> str:
    """A TokenRequest token (the ServiceAccount is made if missing); without an audience
    it is for the API server itself."""
    core = client.CoreV1Api(kube_api)
    try:
        core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    spec: dict[str, object] = {"expirationSeconds": 600}
    if audience:
        spec["audiences"] = [audience]
    request = {"spec": spec}
    token: str = core.create_namespaced_service_account_token(name, namespace, request).status.token
    return token
