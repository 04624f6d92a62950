"""The registry as a file: the export every environment can diff, never holding a secret."""

import json

from payments.models import (
    AccountConfiguration,
    ApiCredential,
    PaymentFlow,
    PciEnvironment,
    VccAccount,
)
from payments.selectors.registry_file import FORMAT, secret_env_name


def registry_export() -> dict:
    """Return the whole registry as a document, in a stable order and without secrets."""
    environments = sorted(PciEnvironment.objects.all(), key=lambda env: env.name)
    flows = sorted(
        PaymentFlow.objects.select_related("environment", "promoted_from__environment"),
        key=lambda flow: (flow.environment.name, flow.number),
    )
    accounts = sorted(VccAccount.objects.all(), key=lambda account: account.name)
    credentials = sorted(
        ApiCredential.objects.select_related("account"),
        key=lambda credential: (credential.account.name, credential.label),
    )
    links = sorted(
        AccountConfiguration.objects.select_related("account", "flow__environment"),
        key=lambda link: (link.account.name, link.configuration_id),
    )
    env_names: set[str] = set()
    return {
        "format": FORMAT,
        "environments": [
            {"name": env.name, "provider": env.provider, "stage": env.stage} for env in environments
        ],
        "flows": [
            {
                "environment": flow.environment.name,
                "number": flow.number,
                "name": flow.name,
                "is_active": flow.is_active,
                "promoted_from": _flow_ref(flow.promoted_from),
            }
            for flow in flows
        ],
        "accounts": [
            {
                "name": account.name,
                "kind": account.kind,
                "region": account.region,
                "auth_base_url": account.auth_base_url,
                "payment_base_url": account.payment_base_url,
                "is_active": account.is_active,
                "notes": account.notes,
            }
            for account in accounts
        ],
        "credentials": [
            {
                "account": credential.account.name,
                "label": credential.label,
                "client_id": credential.client_id,
                "allowed_environments": credential.allowed_environments,
                "is_enabled": credential.is_enabled,
                "fingerprint": credential.secret_fingerprint,
                "client_secret_env": (
                    secret_env_name(credential.account.name, credential.label, taken=env_names)
                    if credential.has_secret
                    else None
                ),
            }
            for credential in credentials
        ],
        "links": [
            {
                "account": link.account.name,
                "configuration_id": link.configuration_id,
                "flow": _flow_ref(link.flow),
                "is_active": link.is_active,
                "notes": link.notes,
            }
            for link in links
        ],
    }


def registry_dumps(document: dict) -> str:
    """Return a document as the file's text: one key per line, so diffs stay readable."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _flow_ref(flow: PaymentFlow | None) -> dict | None:
    if flow is None:
        return None
    return {"environment": flow.environment.name, "number": flow.number}
