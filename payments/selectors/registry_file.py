"""The registry file: its format, the export, and the checks a file passes before import."""

import fnmatch
import json
import re
from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Literal

from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from payments.models import (
    AccountKind,
    AllowedEnvironments,
    ApiCredential,
    Region,
    Stage,
)
from payments.redaction import is_secret_name

FORMAT = "vcc-registry/1"
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# A key named like a secret would carry it inline; the file names an environment variable instead.
ALLOWED_SECRET_KEYS = {"client_secret_env"}

# A registry file is 4 levels deep; deeper nesting is refused before it can exhaust the stack.
MAX_DEPTH = 20
SURROGATE = re.compile("[\ud800-\udfff]")

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


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    counts = Counter(key for key, _ in pairs)
    repeated = sorted(key for key, count in counts.items() if count > 1)
    if repeated:
        raise RegistryFileError(
            [f"the key {key!r} appears more than once in one object; keep one." for key in repeated]
        )
    return dict(pairs)


def registry_loads(text: str) -> object:
    """Parse a registry file's JSON; duplicate keys and runaway nesting are RegistryFileError."""
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except RecursionError:
        raise RegistryFileError(
            [f"the JSON is nested too deeply (a registry file is at most {MAX_DEPTH} levels)."]
        ) from None


def _characters(document: object) -> list[str]:
    """Refuse nesting beyond MAX_DEPTH, NUL characters and lone surrogates (no recursion).

    A path is kept as (parent, key) pairs and spelt out only for a problem: a registry of
    10,000 links has some 100,000 values, and almost never a problem.
    """
    problems = []
    stack = [(document, None, 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return [f"the file is nested deeper than {MAX_DEPTH} levels (at {_where(path)})."]
        if isinstance(value, str):
            if problem := _text_problem(value):
                problems.append(f"{_where(path) or 'the document'}: {problem}")
        elif isinstance(value, dict):
            for key, item in value.items():
                text = str(key)
                if problem := _text_problem(text):
                    problems.append(f"{_where(path)}.{key!r} (a key): {problem}")
                stack.append((item, (path, text), depth + 1))
        elif isinstance(value, list):
            stack.extend((item, (path, index), depth + 1) for index, item in enumerate(value))
    return problems


def _where(path: tuple | None) -> str:
    """Spell out a (parent, key) path as the file's own notation: links[3].flow."""
    parts = []
    while path is not None:
        path, key = path
        parts.append(key)
    return _spell(reversed(parts))


def _spell(parts) -> str:
    """Keys and list indexes, outermost first, as the file's notation: links[3].flow."""
    where = ""
    for part in parts:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where


def _text_problem(text: str) -> str | None:
    """What is wrong with a key or value's characters, or None (the common case)."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000); remove it."
    if SURROGATE.search(text):
        return "contains a lone surrogate (an invalid \\ud800-\\udfff escape)."
    return None


def validate_document(document: object, *, environ: Mapping[str, str]) -> RegistryDocument:
    """Check the whole file (shape, references, secrets); raise RegistryFileError if wrong."""
    problems = _characters(document)
    if problems:
        raise RegistryFileError(problems)
    problems = _inline_secrets(document)
    if problems:
        raise RegistryFileError(problems)
    try:
        parsed = RegistryDocument.model_validate(document)
    except PydanticValidationError as exc:
        raise RegistryFileError([_describe(error) for error in exc.errors()]) from None
    problems = _duplicates(parsed) + _dangling_references(parsed) + _lineage(parsed)
    problems += _secrets(parsed, environ)
    if problems:
        raise RegistryFileError(problems)
    return parsed


def _inline_secrets(document: object, path: tuple | None = None) -> list[str]:
    problems = []
    if isinstance(document, dict):
        for key, value in document.items():
            if is_secret_name(key) and key not in ALLOWED_SECRET_KEYS:
                problems.append(
                    f"{_where((path, str(key)))}: inline secrets are refused. Remove it, put the "
                    "secret in an environment variable and name that variable in "
                    '"client_secret_env".'
                )
            elif isinstance(value, dict | list):  # a plain value holds no key to check
                problems.extend(_inline_secrets(value, (path, str(key))))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            if isinstance(value, dict | list):
                problems.extend(_inline_secrets(value, (path, index)))
    return problems


def _describe(error: dict) -> str:
    where = _spell(error["loc"])
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


def flows_origins_first(flows: list[FlowEntry]) -> tuple[list[FlowEntry], list[FlowEntry]]:
    """Order flows so each comes after the flow it was promoted from; return (ordered, cyclic)."""
    in_file = {(flow.environment, flow.number) for flow in flows}
    ordered, placed, pending = [], set(), list(flows)
    while pending:
        ready = [
            flow
            for flow in pending
            if flow.promoted_from is None
            or flow_key(flow.promoted_from) in placed
            or flow_key(flow.promoted_from) not in in_file
        ]
        if not ready:
            break
        ordered += ready
        placed |= {(flow.environment, flow.number) for flow in ready}
        pending = [flow for flow in pending if (flow.environment, flow.number) not in placed]
    return ordered, pending


def _lineage(doc: RegistryDocument) -> list[str]:
    stages = {env.name: env.stage for env in doc.environments}
    _, cyclic = flows_origins_first(doc.flows)
    problems = [
        f"flows: flow {flow.number} on {flow.environment!r} is in a promoted_from cycle; "
        "a lineage must start at a flow that was not promoted."
        for flow in cyclic
        if flow_key(flow.promoted_from) != (flow.environment, flow.number)
    ]
    for index, flow in enumerate(doc.flows):
        origin = flow.promoted_from
        if origin is None:
            continue
        if flow_key(origin) == (flow.environment, flow.number):
            problems.append(
                f"flows[{index}].promoted_from: flow {flow.number} on {flow.environment!r} names "
                "itself; a flow is promoted from another (staging) flow."
            )
        elif stages.get(origin.environment, Stage.STAGING) != Stage.STAGING:
            problems.append(
                f"flows[{index}].promoted_from: flow {origin.number} on {origin.environment!r} "
                "is not a staging flow; flows are promoted from staging flows only."
            )
    return problems


def _secrets(doc: RegistryDocument, environ: Mapping[str, str]) -> list[str]:
    pattern = settings.REGISTRY_SECRET_ENV_PATTERN
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
        elif not fnmatch.fnmatchcase(variable, pattern):
            # Any other variable (FIELD_ENCRYPTION_KEY, SECRET_KEY, ...) would be sent to VCC.
            problems.append(
                f"{where}: client_secret_env {variable!r} is outside the namespace client "
                f"secrets are read from: the name must match {pattern} "
                "(setting REGISTRY_SECRET_ENV_PATTERN)."
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
