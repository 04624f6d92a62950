"""The registry file: its format, the export, and the checks a file passes before import."""

import json
import re
from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from payments.models import (
    AccountConfiguration,
    AccountKind,
    AllowedEnvironments,
    ApiCredential,
    PaymentFlow,
    PciEnvironment,
    Region,
    Stage,
    VccAccount,
)
from payments.redaction import is_secret_name

FORMAT = "vcc-registry/1"
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# A key named like a secret would carry it inline; the file names an environment variable instead.
ALLOWED_SECRET_KEYS = {"client_secret_env"}

Text = Annotated[str, Field(max_length=500)]
Number = Annotated[int, Field(ge=0, le=2_147_483_647)]


class RegistryFileError(Exception):
    """The file cannot be imported; `problems` lists every reason, each saying what to fix."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class FlowRef(_Entry):
    environment: str
    number: Number


class EnvironmentEntry(_Entry):
    name: str
    provider: str = "PCI Pal"
    stage: Literal[tuple(Stage.values)]


class FlowEntry(_Entry):
    environment: str
    number: Number
    name: str
    is_active: bool = True
    promoted_from: FlowRef | None = None


class AccountEntry(_Entry):
    name: str
    kind: Literal[tuple(AccountKind.values)]
    region: Literal[tuple(Region.values)] = Region.EMEA.value
    auth_base_url: Text = ""
    payment_base_url: Text = ""
    is_active: bool = True
    notes: Text = ""


class CredentialEntry(_Entry):
    account: str
    label: str
    client_id: str
    # Left out: a new credential gets its account kind's default (payments/models/choices.py).
    allowed_environments: Literal[tuple(AllowedEnvironments.values)] | None = None
    is_enabled: bool = True
    fingerprint: str = Field("", description="Written by export for review; ignored on import.")
    client_secret_env: str | None = None


class LinkEntry(_Entry):
    account: str
    configuration_id: Number
    flow: FlowRef
    is_active: bool = True
    notes: Text = ""


class RegistryDocument(_Entry):
    format: Literal[FORMAT]
    environments: list[EnvironmentEntry] = []
    flows: list[FlowEntry] = []
    accounts: list[AccountEntry] = []
    credentials: list[CredentialEntry] = []
    links: list[LinkEntry] = []


def flow_key(ref: FlowRef) -> tuple[str, int]:
    return (ref.environment, ref.number)


def secret_env_name(account: str, label: str, *, taken: set[str]) -> str:
    """Name the environment variable for a credential's secret, e.g. VCC_SANDBOX_A_SECRET."""
    stem = re.sub(r"[^A-Z0-9]+", "_", f"{account} {label}".upper()).strip("_")
    name = f"VCC_{stem}_SECRET"
    suffix = 2
    while name in taken:
        name = f"VCC_{stem}_{suffix}_SECRET"
        suffix += 1
    taken.add(name)
    return name


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


def validate_document(document: object, *, environ: Mapping[str, str]) -> RegistryDocument:
    """Check the whole file (shape, references, secrets); raise RegistryFileError if wrong."""
    problems = _inline_secrets(document)
    if problems:
        raise RegistryFileError(problems)
    try:
        parsed = RegistryDocument.model_validate(document)
    except PydanticValidationError as exc:
        raise RegistryFileError([_describe(error) for error in exc.errors()]) from None
    problems = _duplicates(parsed) + _dangling_references(parsed) + _secrets(parsed, environ)
    if problems:
        raise RegistryFileError(problems)
    return parsed


def _inline_secrets(document: object, path: str = "") -> list[str]:
    problems = []
    if isinstance(document, dict):
        for key, value in document.items():
            where = f"{path}.{key}" if path else str(key)
            if is_secret_name(key) and key not in ALLOWED_SECRET_KEYS:
                problems.append(
                    f"{where}: inline secrets are refused. Remove it, put the secret in an "
                    'environment variable and name that variable in "client_secret_env".'
                )
            else:
                problems.extend(_inline_secrets(value, where))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            problems.extend(_inline_secrets(value, f"{path}[{index}]"))
    return problems


def _describe(error: dict) -> str:
    where = ""
    for part in error["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    if not where:
        return "The file must be a JSON object, as export_registry writes it."
    if error["type"] == "literal_error" and error["loc"] == ("format",):
        return f'format: must be "{FORMAT}" (a file written by export_registry).'
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown field; remove it (export_registry writes every field there is)."
    if error["type"] == "missing":
        return f"{where}: missing; add it."
    return f"{where}: {error['msg']}."


def _duplicates(doc: RegistryDocument) -> list[str]:
    keys = {
        "environments": [(env.name,) for env in doc.environments],
        "flows": [(flow.environment, flow.number) for flow in doc.flows],
        "accounts": [(account.name,) for account in doc.accounts],
        "credentials": [(cred.account, cred.label) for cred in doc.credentials],
        "credentials client_id": [(cred.client_id,) for cred in doc.credentials],
        "links": [(link.account, link.configuration_id) for link in doc.links],
    }
    return [
        f"{section}: {' / '.join(map(str, key))} appears {count} times; keep one."
        for section, section_keys in keys.items()
        for key, count in Counter(section_keys).items()
        if count > 1
    ]


def _dangling_references(doc: RegistryDocument) -> list[str]:
    environments = {env.name for env in doc.environments}
    flows = {(flow.environment, flow.number) for flow in doc.flows}
    accounts = {account.name for account in doc.accounts}
    problems = []
    for index, flow in enumerate(doc.flows):
        if flow.environment not in environments:
            problems.append(
                f"flows[{index}]: environment {flow.environment!r} is not in environments."
            )
        if flow.promoted_from and flow_key(flow.promoted_from) not in flows:
            problems.append(
                f"flows[{index}].promoted_from: flow {flow.promoted_from.number} on "
                f"{flow.promoted_from.environment!r} is not in flows."
            )
    for index, credential in enumerate(doc.credentials):
        if credential.account not in accounts:
            problems.append(
                f"credentials[{index}]: account {credential.account!r} is not in accounts."
            )
    for index, link in enumerate(doc.links):
        if link.account not in accounts:
            problems.append(f"links[{index}]: account {link.account!r} is not in accounts.")
        if flow_key(link.flow) not in flows:
            problems.append(
                f"links[{index}].flow: flow {link.flow.number} on {link.flow.environment!r} is "
                "not in flows."
            )
    return problems


def _secrets(doc: RegistryDocument, environ: Mapping[str, str]) -> list[str]:
    problems = []
    for index, credential in enumerate(doc.credentials):
        variable = credential.client_secret_env
        if variable is None:
            continue
        where = f"credentials[{index}] ({credential.label!r} on {credential.account!r})"
        if not ENV_NAME.match(variable):
            problems.append(
                f"{where}: client_secret_env {variable!r} is not an environment variable name "
                "(capital letters, digits and _)."
            )
        elif not environ.get(variable):
            exists = ApiCredential.objects.filter(
                account__name=credential.account, label=credential.label
            ).exclude(secret_fingerprint="")
            if not exists.exists():
                problems.append(
                    f"{where}: the environment variable {variable} is not set. Set it to the "
                    "client secret before importing (the file never holds the secret)."
                )
    return problems
