"""The words the operator writes to the API server: condition types, reasons,
phases and the reasons of Events.

StrEnums, so a typo is a NameError instead of a status nobody reads, and every
member is its string: what reaches the API server is the same text a bare
string would have been. Readers outside this package depend on the words as
they are: the CRDs' enums and printer columns, the Argo CD health script
(examples/argocd/health.lua) and the alerts (monitoring/alerts.yaml, on the
phases the operator's metrics carry).

This module imports nothing of the operator, so every layer may use it.
"""

from __future__ import annotations

from enum import StrEnum, unique


@unique
class ConditionType(StrEnum):
    """A Store's conditions, one per concern (status.CONDITIONS says what each covers)."""

    READY = "Ready"
    NAMESPACE = "NamespaceReady"
    RUNTIME = "RuntimeReady"
    ROUTES = "RoutesReady"
    DATABASE = "DatabaseReady"
    CACHE = "CacheReady"
    EVENTS = "EventsReady"
    SECRETS = "SecretsReady"
    IDENTITY = "IdentityReady"
    NOTIFICATIONS = "NotificationsReady"
    PAYMENTS = "PaymentsReady"


@unique
class VendorConditionType(StrEnum):
    """A Vendor's conditions; Ready sums them up, as a Store's does."""

    READY = "Ready"
    STORE_FOUND = "StoreFound"
    RUNTIME_REGISTERED = "RuntimeRegistered"
    USERS_READY = "UsersReady"
    PAYOUT_READY = "PayoutReady"


@unique
class Reason(StrEnum):
    """Why a condition has its status, and a phase's reason (status.phaseReason)."""

    # Ready, and a phase's reason
    ALL_READY = "AllReady"
    SUSPENDED = "Suspended"
    RECONCILE_PAUSED = "ReconcilePaused"
    STORE_DELETED = "StoreDeleted"
    # Objects the operator applies (NamespaceReady, RuntimeReady, RoutesReady)
    APPLIED = "Applied"
    APPLY_FAILED = "ApplyFailed"
    PROGRESSING = "Progressing"
    AVAILABLE = "Available"
    INGRESS_BY_CHOICE = "IngressByChoice"
    ISTIO_NOT_INSTALLED = "IstioNotInstalled"
    ISTIO_ROUTES = "IstioRoutes"
    # Who serves an integration block when no provisioner does
    EMBEDDED_DEFAULT = "EmbeddedDefault"
    IN_NAMESPACE = "InNamespace"
    DEPLOYING = "Deploying"
    IN_PROCESS_BUS = "InProcessBus"
    REDIS_STREAMS = "RedisStreams"
    KUBERNETES_SECRETS = "KubernetesSecrets"
    BUILT_IN_ACCOUNTS = "BuiltInAccounts"
    # What a provisioner found or did (provisioners.base.outcome)
    PROVISIONED = "Provisioned"
    MISSING = "Missing"
    RETAINED = "Retained"
    DELETED = "Deleted"
    PROVISIONER_FAILED = "ProvisionerFailed"
    WAITING_FOR_SECRETS = "WaitingForSecrets"
    # A system that did not answer, or refused
    POSTGRES_UNAVAILABLE = "PostgresUnavailable"
    REDIS_UNAVAILABLE = "RedisUnavailable"
    KAFKA_UNAVAILABLE = "KafkaUnavailable"
    VAULT_UNAVAILABLE = "VaultUnavailable"
    KEYCLOAK_UNAVAILABLE = "KeycloakUnavailable"
    KEYCLOAK_REFUSED = "KeycloakRefused"
    # NotificationsReady and PaymentsReady (integrations a Store names in its spec)
    NOT_CONFIGURED = "NotConfigured"
    SECRET_MISSING = "SecretMissing"
    SECRET_KEY_MISSING = "SecretKeyMissing"
    SMTP = "SMTP"
    SMS_WEBHOOK = "SmsWebhook"
    PUSH_WEBHOOK = "PushWebhook"
    SANDBOX = "Sandbox"
    STRIPE = "Stripe"
    # A Vendor's conditions
    WRONG_NAMESPACE = "WrongNamespace"
    STORE_NOT_FOUND = "StoreNotFound"
    FOUND = "Found"
    STORE_NOT_READY = "StoreNotReady"
    RUNTIME_UNAVAILABLE = "RuntimeUnavailable"
    RUNTIME_REFUSED = "RuntimeRefused"
    REGISTERED = "Registered"
    NO_CREDENTIALS = "NoCredentials"
    SECRET_NOT_FOUND = "SecretNotFound"
    KUBERNETES_SECRET = "KubernetesSecret"
    IN_VAULT = "InVault"


@unique
class EventReason(StrEnum):
    """Reasons only Events carry. An Event about a condition or a phase carries its
    Reason (or Phase<phase>) instead."""

    RECONCILE_FAILED = "ReconcileFailed"
    CREDENTIALS_ROTATED = "CredentialsRotated"
    DRIFT_CORRECTED = "DriftCorrected"
    PRUNED = "Pruned"
    RECREATED = "Recreated"
    DELETING_NAMESPACE = "DeletingNamespace"
    RELEASE_FAILED = "ReleaseFailed"
    DATA_RETAINED = "DataRetained"
    DATA_DELETED = "DataDeleted"
    OFFBOARD_FAILED = "OffboardFailed"
    OFFBOARDED = "Offboarded"


@unique
class StorePhase(StrEnum):
    """status.phase of a Store (the CRD's enum of it)."""

    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    READY = "Ready"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    DELETING = "Deleting"
    FAILED = "Failed"


@unique
class VendorPhase(StrEnum):
    """status.phase of a Vendor, as far as the operator writes it."""

    PENDING = "Pending"
    READY = "Ready"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    FAILED = "Failed"


@unique
class Routing(StrEnum):
    """status.routing: how a Store's domains reach its runtime."""

    ISTIO = "Istio"
    INGRESS = "Ingress"
