"""The one camelCase JSON shape of a PaymentSession (API, CLI, launch pages and audit rows),
and of a promotion (API and CLI)."""

from collections.abc import Callable, Iterable

from django.core.serializers.json import DjangoJSONEncoder

from payments.models import PaymentSession, Promotion

_ENCODER = DjangoJSONEncoder()


def _when(value) -> str | None:
    # The API's own format (milliseconds, Z for UTC), so every door prints the same text.
    return _ENCODER.default(value) if value else None


# In the order callers print them; each reads only the session's own columns, except
# launchedBy, which follows the launched_by relation (select it when listing many).
SESSION_FIELDS: dict[str, Callable[[PaymentSession], object]] = {
    "id": lambda s: s.pk,
    "sessionGuid": lambda s: s.session_guid,
    "outcome": lambda s: s.outcome,
    "kind": lambda s: s.kind,
    "account": lambda s: s.account_name,
    "credential": lambda s: s.credential_label,
    "configurationId": lambda s: s.configuration_id,
    "flowNumber": lambda s: s.flow_number,
    "flowName": lambda s: s.flow_name,
    "stage": lambda s: s.stage,
    "environment": lambda s: s.environment_name,
    "agentId": lambda s: s.agent_id,
    "launchedBy": lambda s: s.launched_by.get_username(),
    "launchedAt": lambda s: _when(s.launched_at),
    "providerSessionGuid": lambda s: s.provider_session_guid,
    "sessionState": lambda s: s.session_state,
    "decision": lambda s: s.decision,
    "reasonCode": lambda s: s.reason_code,
    "result": lambda s: {key: str(value) for key, value in s.result_summary.items()},
    "statusSource": lambda s: s.status_source,
    "statusUpdatedAt": lambda s: _when(s.status_updated_at),
    "latencyMs": lambda s: s.latency_ms,
    "error": lambda s: s.error,
}


def session_json(session: PaymentSession, *, only: Iterable[str] | None = None) -> dict:
    """Return the session as camelCase JSON values (never card data or agent tokens)."""
    names = SESSION_FIELDS if only is None else only
    return {name: SESSION_FIELDS[name](session) for name in names}


def promotion_json(promotion: Promotion, user) -> dict:
    """A promotion as the API and the CLI print it, with the steps `user` may take on it."""
    return {
        "id": promotion.pk,
        "state": promotion.state,
        "sourceFlow": promotion.source_flow.number,
        "sourceEnvironment": promotion.source_flow.environment.name,
        "targetAccount": promotion.target_account.name,
        "targetEnvironment": promotion.target_environment.name,
        "productionFlowNumber": promotion.production_flow_number,
        "configurationId": promotion.configuration_id,
        "reason": promotion.reason,
        "requestedBy": promotion.requested_by.get_username(),
        "requestedAt": promotion.requested_at,
        "approvedBy": promotion.approved_by.get_username() if promotion.approved_by else None,
        "approvedAt": promotion.approved_at,
        "changes": [
            change.describe(promotion.production_flow_number)
            for change in promotion.changes.select_related(
                "account", "flow", "link__account", "link__flow"
            ).order_by("position")
        ],
        # A string: the JSON encoder would cut a datetime to milliseconds, and then no
        # approval could ever match it.
        "version": promotion.updated_at.isoformat(),
        "steps": promotion.steps_for(user),
    }
