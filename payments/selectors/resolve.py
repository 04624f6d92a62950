"""Which configuration link to use for a flow on a stage: the question integrations ask."""

from django.core.exceptions import PermissionDenied
from django.db.models import Q

from payments.models import AccountConfiguration, Stage


class LinkNotFound(Exception):
    """No usable configuration link matches; str() says what was looked for."""


class LinkAmbiguous(Exception):
    """Several accounts link the flow; `candidates` names them so the caller can pick one."""

    def __init__(self, message: str, candidates: list[dict]):
        super().__init__(message)
        self.candidates = candidates


def links_usable_by(user):
    """Active links the user may resolve: all with view permission, else those it may launch."""
    if user.has_perm("payments.view_accountconfiguration"):
        return AccountConfiguration.objects.launchable()
    if user.has_perm("payments.add_paymentsession"):
        return AccountConfiguration.objects.launchable_by(user)
    raise PermissionDenied(
        f"{user.get_username()} may neither view configuration links nor launch sessions: ask a "
        "registry admin to give this user a role (e.g. Agents or Auditors)."
    )


def link_resolve(*, user, flow: str, stage: str, account: str = "") -> AccountConfiguration:
    """Return the one active link that starts the flow (name or number) on the stage."""
    flow = flow.strip()
    links = links_usable_by(user)
    if stage == Stage.PRODUCTION and not (
        user.has_perm("payments.view_accountconfiguration")
        or user.has_perm("payments.launch_production")
    ):
        raise PermissionDenied(
            f"{user.get_username()} may not use production flows: that needs the Production "
            "launchers role."
        )
    flow_match = Q(flow__name__iexact=flow)
    if flow.isdigit():
        flow_match |= Q(flow__number=int(flow))
    links = links.with_related().for_stage(stage).filter(flow_match)
    if account:
        links = links.filter(account__name__iexact=account.strip())
    found = list(links.order_by("account__name", "configuration_id")[:21])
    where = f" on account {account}" if account else ""
    if not found:
        raise LinkNotFound(
            f"No active configuration link starts flow {flow!r} on {stage}{where}. Check the "
            "flow name or number, the stage and the account, or ask a registry admin to link it."
        )
    if len(found) > 1:
        next_step = (
            "name the configuration id (launch with account and configurationId)"
            if account
            else "name the account to choose one"
        )
        raise LinkAmbiguous(
            f"Flow {flow!r} on {stage} is linked by {len(found)} configurations{where}: "
            f"{next_step}.",
            candidates=[
                {
                    "account": link.account.name,
                    "configurationId": link.configuration_id,
                    "flowNumber": link.flow.number,
                }
                for link in found[:20]
            ],
        )
    return found[0]
