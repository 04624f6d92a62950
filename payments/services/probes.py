"""Link probes: prove a configuration link by asking VCC to start a session on it.

VCC cannot list an account's configuration ids, so the only proof a link is true is a session
VCC starts with it. A probe takes a token with a credential allowed for the link (the launch
path's choice) and creates an agent-assist session with skipCallTransfer for the test agent
VCC_PROBE_AGENT_ID; the link's LinkProbe row keeps the time, the outcome, VCC's message and the
sessionGuid. The agent tokens in VCC's answer are dropped unread.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from payments.crypto import SecretDecryptionError
from payments.models import AccountConfiguration, AuditOutcome, ChangeKind, LinkProbe, Stage
from payments.services.audit import audit_record
from payments.services.launches.health import record_refused_credential, undecryptable_message
from payments.services.vcc_clients import vcc_client_for
from payments.vcc.errors import (
    VccAuthenticationError,
    VccConfigurationNotProvisioned,
    VccError,
    VccOutcomeUnknown,
    VccProtocolError,
    VccProviderError,
    VccRateLimited,
    VccUnavailable,
)

logger = logging.getLogger(__name__)

PERMISSION_PROBE = "payments.probe_links"
PERMISSION_PROBE_PRODUCTION = "payments.probe_production"
# What a probe asks VCC for: the smallest payment a flow accepts, never taken (no call transfer).
PROBE_PAYMENT_DATA = {"Amount": "0.01", "Currency": "GBP", "MerchantReferenceCode": "link-probe"}
PRODUCTION_NOT_INCLUDED = (
    "Production links are probed only when asked for: pass --include-production (or confirm "
    "the account name on the Link health page)."
)
UNEXPECTED = (
    "Something unexpected went wrong while probing; the log has the details. Probe again, and "
    "tell the registry's operators if it stays."
)


@dataclass
class ProbeResult:
    """One probe's answer: the stored row (no tokens) and whether it is newly failing."""

    probe: LinkProbe
    newly_failing: bool = False

    @property
    def ok(self) -> bool:
        return self.probe.ok

    def as_json(self) -> dict:
        link = self.probe.link
        return {
            "account": link.account.name,
            "configurationId": link.configuration_id,
            "flow": link.flow.number,
            "stage": link.flow.environment.stage,
            "ok": self.probe.ok,
            "message": self.probe.message,
        }


def advice_for(error: VccError | None, link: AccountConfiguration) -> str:
    """What to do about a refused probe, by the kind of refusal."""
    account, number = link.account.name, link.configuration_id
    flow = f"flow {link.flow.number} “{link.flow.name}”"
    if error is None:
        return ""
    if isinstance(error, VccConfigurationNotProvisioned):
        return (
            f"Ask Vonage to provision configuration id {number} on VCC account {account} for "
            f"{flow}; or, if the id is wrong, fix the link in the registry."
        )
    if isinstance(error, VccAuthenticationError):
        return (
            f"Store the current secret of the credentials on {account} (or enable other "
            "credentials), then probe again."
        )
    if isinstance(error, VccProviderError):
        return f"Ask Vonage or the PCI provider to grant {flow} to {account}'s API user."
    if isinstance(error, VccUnavailable | VccRateLimited):
        return "VCC did not answer in time or asked us to slow down: probe again later."
    if isinstance(error, VccOutcomeUnknown | VccProtocolError):
        return "Check the account's base URLs point at VCC, then probe again."
    return f"Check the link (account {account}, id {number}, {flow}) against what Vonage gave you."


def probe_refusal(
    *, link: AccountConfiguration, actor, include_production: bool, confirm_account_name: str
) -> str | None:
    """Why this probe may not run, or None. No actor: an operator's command or the worker."""
    production = link.flow.environment.stage == Stage.PRODUCTION
    if actor is not None and not actor.has_perm(PERMISSION_PROBE):
        return "You may not probe links: ask a registry admin for the Registry admins role."
    if not production:
        return None
    if not include_production:
        return f"{link} is a production link. {PRODUCTION_NOT_INCLUDED}"
    if actor is not None:
        if not actor.has_perm(PERMISSION_PROBE_PRODUCTION):
            return (
                f"{link} is a production link: probing it needs the production probe "
                "permission (the Production launchers group)."
            )
        if (confirm_account_name or "").strip() != link.account.name:
            return (
                f"{link} is a production link: type the account name “{link.account.name}” "
                "exactly to confirm."
            )
    return None


def link_probe(
    *,
    link: AccountConfiguration,
    actor,
    origin: str = "",
    agent_id: str | None = None,
    include_production: bool = False,
    confirm_account_name: str = "",
    via_promotion=None,
) -> ProbeResult:
    """Probe one link with VCC and record the result on it.

    Raises PermissionDenied before anything is sent when the probe may not run (a production
    link without include_production, the permission and, for a person, the typed account name);
    a production refusal is audited. VCC's refusal is recorded and returned, not raised.
    `via_promotion`: a new link of that promotion, whose request asked for the probe with the
    permission and typed confirmation (services/promotions/verify.py), so the actor's are not.
    """
    production = link.flow.environment.stage == Stage.PRODUCTION
    person = actor
    if via_promotion is not None:
        if not via_promotion.changes.filter(kind=ChangeKind.LINK, link=link).exists():
            raise PermissionDenied(f"{link} is not a link of promotion #{via_promotion.pk}.")
        person = None
    reason = probe_refusal(
        link=link,
        actor=person,
        include_production=include_production,
        confirm_account_name=confirm_account_name,
    )
    if reason:
        if production:
            audit_record(
                action="link.probed_production",
                actor=actor,
                outcome=AuditOutcome.DENIED,
                origin=origin,
                obj=link,
                reason=reason,
            )
        raise PermissionDenied(reason)
    agent_id = (agent_id or settings.VCC_PROBE_AGENT_ID).strip()
    if not agent_id:
        raise ValidationError(
            {"agent_id": "Set VCC_PROBE_AGENT_ID to the test agent VCC knows."}, code="required"
        )
    ok, message, advice, session_guid, credential = _ask_vcc(link, agent_id, actor, origin)
    return _record(
        link=link,
        actor=actor,
        origin=origin,
        ok=ok,
        message=message,
        advice=advice,
        session_guid=session_guid,
        credential_label=credential.label if credential else "",
        agent_id=agent_id,
    )


def links_to_probe(*, account: str = "", stage: str = "", include_production: bool = False):
    """The active links a probe run covers (production only when included)."""
    links = AccountConfiguration.objects.launchable().with_related()
    if account:
        links = links.filter(account__name__iexact=account.strip())
    if stage:
        links = links.for_stage(stage)
    if not include_production:
        links = links.for_stage(Stage.STAGING)
    return links.order_by("account__name", "configuration_id")


def links_probe(
    *,
    actor,
    origin: str = "",
    account: str = "",
    stage: str = "",
    include_production: bool = False,
    agent_id: str | None = None,
) -> list[ProbeResult]:
    """Probe every active link that matches, one after another; production only when included."""
    if stage == Stage.PRODUCTION and not include_production:
        raise PermissionDenied(PRODUCTION_NOT_INCLUDED)
    links = links_to_probe(account=account, stage=stage, include_production=include_production)
    results = []
    for link in links:
        results.append(
            link_probe(
                link=link,
                actor=actor,
                origin=origin,
                agent_id=agent_id,
                include_production=include_production,
                # An operator's run names production once for all; a person confirms each.
                confirm_account_name=link.account.name,
            )
        )
    return results


@sensitive_variables("client", "created")
def _ask_vcc(link: AccountConfiguration, agent_id: str, actor, origin: str):
    """Return (ok, message, advice, sessionGuid, credential); never raises for VCC's answer."""
    credential = None
    try:
        credential = link.launch_credentials().first()
        if credential is None:
            message = (
                f"No enabled credentials on {link.account.name} may launch "
                f"{link.flow.environment.stage} flows, so nothing was sent to VCC."
            )
            advice = "Ask a registry admin to add or enable credentials for this stage."
            return False, message, advice, "", None
        credential.client_secret  # noqa: B018 - a secret that does not decrypt stops us here
    except SecretDecryptionError:
        message = undecryptable_message(credential.label, link.account.name)
        return False, message, "Re-enter the secret on the credential's page.", "", credential
    # No transaction is open here: the HTTP call never holds a database lock.
    try:
        client = vcc_client_for(credential)
        created = client.create_agent_assist_session(
            payment_data=dict(PROBE_PAYMENT_DATA),
            agent_id=agent_id,
            account_configuration_id=link.configuration_id,
            skip_call_transfer=True,
        )
    except VccError as exc:
        if isinstance(exc, VccAuthenticationError):
            record_refused_credential(credential, exc, launched_by=actor, origin=origin)
        return False, exc.message, advice_for(exc, link), "", credential
    except Exception:
        logger.exception("Unexpected error probing %s", link)
        return False, UNEXPECTED, "", "", credential
    # Only the sessionGuid is kept: the agent tokens in `created` go out of scope here.
    guid = created.session_guid[:64]
    message = (
        f"VCC started a test session ({guid}) on {link.account.name} id "
        f"{link.configuration_id} for agent {agent_id}."
    )
    return True, message, "", guid, credential


def _record(*, link, actor, origin, ok, message, advice, session_guid, credential_label, agent_id):
    now = timezone.now()
    actor = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        probe = LinkProbe.objects.select_for_update().filter(link=link).first()
        was_failing = probe is not None and not probe.ok
        if probe is None:
            probe = LinkProbe(link=link)
        probe.probed_at = now
        probe.ok = ok
        probe.message = message[:500]
        probe.advice = advice[:500]
        probe.session_guid = session_guid
        probe.credential_label = credential_label
        probe.agent_id = agent_id[:100]
        probe.probed_by = actor
        if ok:
            probe.last_ok_at = now
        probe.full_clean(exclude=["link"])
        probe.save()
        summary = _summary(link, probe)
        newly_failing = not ok and not was_failing
        # Every production probe is recorded, and a person's probe is something they did; the
        # worker's routine staging runs only when a link newly fails (below), so the trail is
        # not a log of every run.
        if link.flow.environment.stage == Stage.PRODUCTION:
            action = "link.probed_production"
        elif actor is not None and not newly_failing:
            action = "link.probed"
        else:
            action = ""
        if action:
            audit_record(
                action=action,
                actor=actor,
                outcome=AuditOutcome.SUCCESS if ok else AuditOutcome.FAILURE,
                origin=origin,
                obj=link,
                reason="" if ok else message,
                after=summary,
            )
        if newly_failing:
            # Told to the registry admins (services/notifications.py): a link that worked, or
            # was never proved, now fails.
            audit_record(
                action="link.probe_failed",
                actor=actor,
                outcome=AuditOutcome.FAILURE,
                origin=origin,
                obj=link,
                reason=f"{message} {advice}".strip(),
                after=summary,
            )
    probe.link = link
    return ProbeResult(probe=probe, newly_failing=newly_failing)


def _summary(link: AccountConfiguration, probe: LinkProbe) -> dict:
    return {
        "account": link.account.name,
        "configurationId": link.configuration_id,
        "flowNumber": link.flow.number,
        "stage": link.flow.environment.stage,
        "ok": probe.ok,
        "sessionGuid": probe.session_guid,
        "credential": probe.credential_label,
        "agentId": probe.agent_id,
    }
