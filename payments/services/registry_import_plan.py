"""An import's production changes as change sets: one pending promotion per production flow.

A promotion's change set creates one production flow from its staging flow (or reuses the one
already promoted from it), links it on accounts and switches production links off. An import's
production changes are grouped by the production flow they touch; whatever a change set cannot
express (renaming a production flow, a stage or account kind change, a credential's production
permission...) refuses the whole import, so a file never half becomes a promotion.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from payments.models import AccountConfiguration, PaymentFlow, Promotion, Stage, VccAccount
from payments.services.promotions import promotion_request

SOURCE_SHOWN = 100


@dataclass
class Change:
    """One difference between the file and the registry, as the import prints it."""

    action: str  # "create" or "update"
    what: str
    fields: dict[str, tuple] = field(default_factory=dict)
    # A production change's row (not saved) and its stored values: what a promotion plans from.
    instance: object = field(default=None, repr=False, compare=False)
    before: dict = field(default_factory=dict, repr=False, compare=False)

    def __str__(self) -> str:
        if self.action == "create":
            values = ", ".join(f"{name}={new!r}" for name, (_, new) in self.fields.items())
            return f"+ create {self.what}: {values}"
        values = "; ".join(
            f"{name}: {old!r} -> {new!r}" for name, (old, new) in self.fields.items()
        )
        return f"~ update {self.what}: {values}"


@dataclass
class PlannedPromotion:
    """One change set planned from a file: the flow it promotes, its links and switch-offs."""

    source_flow: PaymentFlow
    target_environment: object  # PciEnvironment
    production_flow_number: int
    links: list[tuple[VccAccount, int]] = field(default_factory=list)
    deactivate: list[AccountConfiguration] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)  # the file's changes it carries
    promotion: Promotion | None = None  # the requested promotion (None in a dry run)

    def __str__(self) -> str:
        return (
            f"flow {self.source_flow.number} on {self.source_flow.environment.name!r} -> "
            f"flow {self.production_flow_number} on {self.target_environment.name!r}"
        )


def _unexpressible(change, why: str) -> str:
    return (
        f"{change} — a production change no promotion can make ({why}). Make it with "
        "break-glass, or in the admin once a promotion has created what it needs; then remove "
        "it from the file and import the rest again."
    )


def registry_import_plan(changes: list[Change]) -> tuple[list[PlannedPromotion], list[str]]:
    """Group production changes (Change rows with instance/before) into change sets.

    Returns the planned promotions, in file order, and the changes no change set expresses.
    """
    plans: dict[tuple, PlannedPromotion] = {}
    refused: list[str] = []
    switch_offs: list[tuple] = []

    def plan_for(flow: PaymentFlow) -> PlannedPromotion | None:
        key = (flow.environment.pk, flow.number)
        if key not in plans and flow.pk is not None and flow.promoted_from_id is not None:
            plans[key] = PlannedPromotion(flow.promoted_from, flow.environment, flow.number)
        return plans.get(key)

    for change in changes:
        instance = change.instance
        if isinstance(instance, PaymentFlow) and change.action == "create":
            source = instance.promoted_from
            if source is None or source.environment.stage != Stage.STAGING:
                refused.append(_unexpressible(change, "a production flow without a staging flow"))
            elif instance.name != source.name:
                refused.append(
                    _unexpressible(
                        change,
                        f"a promotion names the new flow after staging flow {source.number} "
                        f"“{source.name}”: use that name in the file",
                    )
                )
            elif not instance.is_active:
                refused.append(_unexpressible(change, "a promotion creates an active flow"))
            else:
                key = (instance.environment.pk, instance.number)
                plans[key] = PlannedPromotion(source, instance.environment, instance.number)
                plans[key].changes.append(change)
        elif isinstance(instance, AccountConfiguration) and change.action == "create":
            plan = plan_for(instance.flow)
            if plan is None:
                refused.append(_unexpressible(change, "its flow was not promoted from staging"))
            elif not instance.is_active:
                refused.append(_unexpressible(change, "a promotion links a flow active"))
            else:
                plan.links.append((instance.account, instance.configuration_id))
                plan.changes.append(change)
        elif _is_switch_off(change):
            switch_offs.append((change, instance))
        else:
            refused.append(_unexpressible(change, _why(change)))
    for change, instance in switch_offs:
        flow = instance.flow
        # With the promotion of its own flow if the file plans one, else with the first.
        plan = plans.get((flow.environment.pk, flow.number)) or next(iter(plans.values()), None)
        if plan is None:
            refused.append(
                _unexpressible(change, "a promotion switches links off only with a link it adds")
            )
            continue
        # As stored (still active): the in-memory row already carries the file's values.
        plan.deactivate.append(AccountConfiguration.objects.get(pk=instance.pk))
        plan.changes.append(change)
    for plan in plans.values():
        if not plan.links:
            refused.extend(
                _unexpressible(change, "a promotion creates a flow only with a link to it")
                for change in plan.changes
            )
    return [plan for plan in plans.values() if plan.links], refused


def _is_switch_off(change) -> bool:
    instance = change.instance
    return (
        isinstance(instance, AccountConfiguration)
        and change.action == "update"
        and set(change.fields) == {"is_active"}
        and change.fields["is_active"] == (True, False)
        and instance.flow.environment.stage == Stage.PRODUCTION
    )


def _why(change) -> str:
    instance = change.instance
    if isinstance(instance, PaymentFlow):
        return f"a production flow's {', '.join(change.fields)}"
    if isinstance(instance, AccountConfiguration):
        return f"a production link's {', '.join(change.fields)}"
    return f"a {instance._meta.verbose_name}'s {', '.join(change.fields)}"


def registry_import_plan_request(
    *, plans: list[PlannedPromotion], actor, origin: str, source: str
) -> list[str]:
    """Request each planned change set as a pending promotion; return what the rules refuse."""
    shown = "".join(char for char in source if char.isprintable())[:SOURCE_SHOWN]
    problems = []
    for plan in plans:
        count = len(plan.changes)
        (target_account, configuration_id), *links = plan.links
        try:
            plan.promotion = promotion_request(
                source_flow=plan.source_flow,
                target_account=target_account,
                production_flow_number=plan.production_flow_number,
                configuration_id=configuration_id,
                links=links,
                deactivate=plan.deactivate,
                target_environment=plan.target_environment,
                reason=f"Planned by import_registry from {shown or 'a file'}: "
                f"{count} production change(s)",
                actor=actor,
                origin=origin,
            )
        except ValidationError as exc:
            problems.extend(f"The promotion {plan}: {message}" for message in exc.messages)
    return problems
