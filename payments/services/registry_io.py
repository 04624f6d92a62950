"""The registry as a file: import it back through the services (export: selectors.registry_export).

The file is JSON: the standard library reads and writes it, it has one obvious way to spell
each value (no YAML surprises such as `no` becoming false), and written with one key per line
in a fixed order its diffs read line by line. Secrets are never in it: each credential names
the environment variable that holds its secret.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from payments.models import (
    AccountConfiguration,
    ApiCredential,
    AuditOutcome,
    PaymentFlow,
    PciEnvironment,
    VccAccount,
)
from payments.selectors.registry_file import (
    RegistryDocument,
    RegistryFileError,
    flow_key,
    flows_origins_first,
    validate_document,
)
from payments.services.audit import audit_record
from payments.services.production import production_write_refusal
from payments.services.registry import credential_save, registry_save, snapshot
from payments.services.registry_import_plan import (
    Change,
    PlannedPromotion,
    registry_import_plan,
    registry_import_plan_request,
)
from payments.vcc.regions import base_urls

__all__ = [
    "ImportResult",
    "RegistryFileError",
    "registry_import",
    "registry_import_actor_check",
]

IMPORT_PERMISSION = "payments.add_promotion"
DIRECT, NEEDS_PROMOTION, INVALID = "applies directly", "needs a promotion", "invalid"
REGISTRY_MODELS = [PciEnvironment, PaymentFlow, VccAccount, ApiCredential, AccountConfiguration]


@dataclass
class ImportResult:
    changes: list[Change]  # what applies directly
    unchanged: int
    not_in_file: list[str]
    applied: bool
    # The file's production changes: never written by an import, planned as promotions.
    production_changes: list[Change] = field(default_factory=list)
    promotions: list[PlannedPromotion] = field(default_factory=list)  # one per production flow
    refused: list[str] = field(default_factory=list)  # a dry run's refusals (a run raises them)
    restored: bool = False  # an import into an empty registry by a superuser: all applied


class _DryRun(Exception):
    pass


def registry_import_actor_check(*, actor, origin: str = "") -> None:
    """Refuse (and audit) an import by anyone but an active user allowed to request promotions."""
    if (
        getattr(actor, "is_authenticated", False)
        and actor.is_active
        and actor.has_perm(IMPORT_PERMISSION)
    ):
        return
    who = actor.get_username() if getattr(actor, "is_authenticated", False) else "Nobody"
    refusal = (
        f"{who} may not import the registry: --actor must name an active user allowed to "
        "request promotions (a registry admin; a superuser to restore an empty registry)."
    )
    audit_record(
        action="registry.imported",
        actor=actor,
        outcome=AuditOutcome.DENIED,
        origin=origin,
        object_type="registry",
        reason=refusal,
    )
    raise PermissionDenied(refusal)


def _registry_is_empty() -> bool:
    return not any(model.objects.exists() for model in REGISTRY_MODELS)


def registry_import(
    *,
    document: object,
    actor,
    dry_run: bool = False,
    environ: Mapping[str, str],
    origin: str = "",
    source: str = "",
) -> ImportResult:
    """Validate a document, then apply it in one transaction (or roll it back for a dry run).

    Staging changes apply; production changes become one pending promotion per production flow
    (requested by `actor`), or refuse the whole import when no change set can express one.
    Into an empty registry, a superuser's import restores the whole file.
    Raises RegistryFileError, listing every problem, with the database left as it was.
    """
    registry_import_actor_check(actor=actor, origin=origin)
    parsed = validate_document(document, environ=environ)
    restore = actor.is_superuser and _registry_is_empty()
    plans, refused = [], []
    importer = _Importer(
        parsed, actor=actor, origin=origin, environ=environ, source=source, restore=restore
    )
    try:
        with transaction.atomic():
            importer.apply()
            if importer.errors:
                raise RegistryFileError(importer.errors)
            plans, refused = registry_import_plan(importer.production_changes)
            if plans and not refused:
                refused = registry_import_plan_request(
                    plans=plans, actor=actor, origin=origin, source=source
                )
            if dry_run:
                raise _DryRun
            if refused:
                raise RegistryFileError(refused)
            audit_record(
                action="registry.restored" if restore else "registry.imported",
                actor=actor,
                origin=origin,
                object_type="registry",
                object_repr=source[:300],
                reason=f"import_registry {source}".strip(),
                after={
                    "created": sum(change.action == "create" for change in importer.changes),
                    "updated": sum(change.action == "update" for change in importer.changes),
                    "promotions": [plan.promotion.pk for plan in plans],
                    "sha256": hashlib.sha256(
                        json.dumps(document, sort_keys=True).encode()
                    ).hexdigest(),
                },
            )
    except _DryRun:
        for plan in plans:
            plan.promotion = None  # rolled back with the rest
    except RegistryFileError as error:
        if importer.production_changes and not importer.errors:
            # Recorded once the import's own writes are rolled back.
            audit_record(
                action="registry.imported",
                actor=actor,
                outcome=AuditOutcome.DENIED,
                origin=origin,
                object_type="registry",
                object_repr=source[:300],
                reason="\n".join(error.problems),
            )
        raise
    return ImportResult(
        changes=importer.changes,
        unchanged=importer.unchanged,
        not_in_file=importer.not_in_file(),
        applied=not dry_run,
        production_changes=importer.production_changes,
        promotions=plans,
        refused=refused if dry_run else [],
        restored=restore and not dry_run,
    )


class _Importer:
    """Applies a validated document object by object, through the registry services."""

    def __init__(self, parsed: RegistryDocument, *, actor, origin, environ, source, restore):
        self.doc = parsed
        self.restore = restore
        self.production_changes: list[Change] = []
        self.actor = actor
        self.origin = origin
        self.environ = environ
        self.reason = f"import_registry {source}".strip()
        self.changes: list[Change] = []
        self.errors: list[str] = []
        self.unchanged = 0
        self.environments: dict[str, PciEnvironment] = {}
        self.flows: dict[tuple[str, int], PaymentFlow] = {}
        self.accounts: dict[str, VccAccount] = {}
        self.seen: dict[type, set[int]] = {}
        self.stored: dict[type, list] = {}

    def apply(self) -> None:
        # What the database holds, read once per model (one query each, not one per row); the
        # same rows then tell what the file leaves out.
        self.stored = {
            PciEnvironment: list(PciEnvironment.objects.all()),
            PaymentFlow: list(PaymentFlow.objects.select_related("environment", "promoted_from")),
            VccAccount: list(VccAccount.objects.all()),
            ApiCredential: list(ApiCredential.objects.select_related("account")),
            AccountConfiguration: list(AccountConfiguration.objects.with_related()),
        }
        environments = {env.name: env for env in self.stored[PciEnvironment]}
        flows = {(flow.environment_id, flow.number): flow for flow in self.stored[PaymentFlow]}
        accounts = {account.name: account for account in self.stored[VccAccount]}
        credentials = {
            (credential.account_id, credential.label): credential
            for credential in self.stored[ApiCredential]
        }
        links = {
            (link.account_id, link.configuration_id): link
            for link in self.stored[AccountConfiguration]
        }
        for item in self.doc.environments:
            existing = environments.get(item.name)
            self.environments[item.name] = self._save(
                existing or PciEnvironment(name=item.name),
                f"environment {item.name!r}",
                {"provider": item.provider, "stage": item.stage},
            )
        # Origins first, however deep the lineage: a flow points at one that must exist, and an
        # origin saved later would silently drop the lineage (validation refused cycles).
        for item in flows_origins_first(self.doc.flows)[0]:
            environment = self.environments.get(item.environment)
            if environment is None:
                continue
            existing = flows.get((environment.pk, item.number))
            origin = self.flows.get(flow_key(item.promoted_from)) if item.promoted_from else None
            self.flows[(item.environment, item.number)] = self._save(
                existing or PaymentFlow(environment=environment, number=item.number),
                f"flow {item.number} on {item.environment!r}",
                {"name": item.name, "is_active": item.is_active, "promoted_from": origin},
            )
        for item in self.doc.accounts:
            auth_base_url, payment_base_url = base_urls(
                item.region,
                auth_base_url=item.auth_base_url,
                payment_base_url=item.payment_base_url,
            )
            existing = accounts.get(item.name)
            self.accounts[item.name] = self._save(
                existing or VccAccount(name=item.name),
                f"account {item.name!r}",
                {
                    "kind": item.kind,
                    "region": item.region,
                    "auth_base_url": auth_base_url,
                    "payment_base_url": payment_base_url,
                    "is_active": item.is_active,
                    "notes": item.notes,
                },
            )
        for item in self.doc.credentials:
            account = self.accounts.get(item.account)
            if account is None:
                continue
            existing = credentials.get((account.pk, item.label))
            secret = self.environ.get(item.client_secret_env, "") if item.client_secret_env else ""
            self._save(
                existing or ApiCredential(account=account, label=item.label),
                f"credential {item.label!r} on {item.account!r}",
                {
                    "client_id": item.client_id,
                    "is_enabled": item.is_enabled,
                    # Left out of the file: a new credential gets its account kind's default.
                    **(
                        {"allowed_environments": item.allowed_environments or ""}
                        if item.allowed_environments or not existing
                        else {}
                    ),
                },
                new_secret=secret,
                secret_source=item.client_secret_env,
            )
        for item in self.doc.links:
            account = self.accounts.get(item.account)
            flow = self.flows.get(flow_key(item.flow))
            if account is None or flow is None:
                continue
            existing = links.get((account.pk, item.configuration_id))
            self._save(
                existing
                or AccountConfiguration(account=account, configuration_id=item.configuration_id),
                f"link {item.account!r} id {item.configuration_id}",
                {"flow": flow, "is_active": item.is_active, "notes": item.notes},
            )

    def _save(self, instance, what: str, values: dict, new_secret="", secret_source=None):
        created = instance.pk is None
        diff = {}
        for name, value in values.items():
            old = getattr(instance, name) if not created else None
            if created or old != value:
                diff[name] = (_shown(old), _shown(value))
        if isinstance(instance, ApiCredential) and new_secret:
            if created or new_secret != instance.client_secret:
                diff["secret"] = (None, f"from ${secret_source}")
        self.seen.setdefault(type(instance), set())
        if not diff:
            self.unchanged += 1
            self.seen[type(instance)].add(instance.pk)
            return instance
        before = snapshot(instance)
        for name in diff.keys() & values.keys():
            setattr(instance, name, values[name])
        change = Change("create" if created else "update", what, diff)
        plan = DIRECT if self.restore else self._plan(instance, before, what)
        if plan == INVALID:
            return None
        if plan == NEEDS_PROMOTION:
            self.seen[type(instance)].add(instance.pk)
            change.instance, change.before = instance, before
            self.production_changes.append(change)
            return instance  # not saved: what depends on it is planned with it
        try:
            with transaction.atomic():
                if isinstance(instance, ApiCredential):
                    credential_save(
                        credential=instance,
                        new_secret=new_secret or None,
                        actor=self.actor,
                        origin=self.origin,
                        reason=self.reason,
                        restore=self.restore,
                    )
                else:
                    registry_save(
                        instance=instance,
                        actor=self.actor,
                        origin=self.origin,
                        reason=self.reason,
                        restore=self.restore,
                    )
        except ValidationError as exc:
            self.errors.append(f"{what}: {_describe(exc)}")
            return None
        self.seen[type(instance)].add(instance.pk)
        self.changes.append(change)
        return instance

    def _plan(self, instance, before: dict, what: str) -> str:
        """Apply directly or plan for a promotion: the gate's own rule, asked before writing."""
        planned = [
            getattr(instance, field.name, None)
            for field in instance._meta.concrete_fields
            if field.is_relation and field.is_cached(instance)
        ]
        if any(related is not None and related.pk is None for related in planned):
            return NEEDS_PROMOTION  # it names a production change planned above
        try:
            instance.full_clean(exclude=["client_secret"])
        except ValidationError as exc:
            self.errors.append(f"{what}: {_describe(exc)}")
            return INVALID
        return NEEDS_PROMOTION if production_write_refusal(instance, before) else DIRECT

    def not_in_file(self) -> list[str]:
        """Objects in the database that the file does not mention: left as they are."""
        left = []
        for model, rows in self.stored.items():
            label = "link" if model is AccountConfiguration else model._meta.verbose_name
            seen = self.seen.get(model, set())
            left.extend(f"{label} {obj}" for obj in rows if obj.pk not in seen)
        return left


def _shown(value):
    if isinstance(value, PaymentFlow):
        return f"flow {value.number} on {value.environment.name}"
    return value


def _describe(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(
            f"{name}: {' '.join(messages)}" if name != "__all__" else " ".join(messages)
            for name, messages in exc.message_dict.items()
        )
    return " ".join(exc.messages)
