"""The demo data: both seed topologies of the design, created idempotently."""

import secrets
from dataclasses import dataclass

from django.contrib.auth.models import Group, User
from django.db import transaction

from payments.models import (
    AccountConfiguration,
    AccountKind,
    AgentProfile,
    AllowedEnvironments,
    ApiCredential,
    PaymentFlow,
    PciEnvironment,
    Region,
    Stage,
    VccAccount,
)
from payments.services.registry import credential_save, registry_save

ENVIRONMENTS = {Stage.STAGING: "PCI Pal staging", Stage.PRODUCTION: "PCI Pal production"}
FLOWS = [  # (stage, number, name, promoted from)
    (Stage.STAGING, 695, "Card payment", None),
    (Stage.STAGING, 696, "Card refund", None),
    # Tested on staging, not promoted yet: what the demo's promotion walk-through promotes.
    (Stage.STAGING, 699, "Card payment with 3-D Secure", None),
    (Stage.PRODUCTION, 422, "Card payment", 695),
    (Stage.PRODUCTION, 423, "Card refund", 696),
]
ACCOUNTS = [  # (name, kind, credentials [(label, client id, allowed)], links {id: flow number})
    (
        "Sandbox",
        AccountKind.SANDBOX,
        [("A", "sandbox-client-a", AllowedEnvironments.STAGING)],
        {1: 695, 2: 696, 3: 699},
    ),
    (
        "Production",
        AccountKind.PRODUCTION,
        [("B", "production-client-b", AllowedEnvironments.PRODUCTION)],
        {1: 422, 2: 423},
    ),
    (
        "Contact Centre",
        AccountKind.COMBINED,
        [
            ("A", "contact-centre-client-a", AllowedEnvironments.BOTH),
            ("B", "contact-centre-client-b", AllowedEnvironments.PRODUCTION),
        ],
        {1: 695, 2: 696, 3: 699, 4: 422, 5: 423},
    ),
]
USERS = [  # (username, groups, is_staff, is_superuser, agentId)
    ("admin", [], True, True, "admin"),
    ("registry", ["Registry admins"], True, False, "registry"),
    ("approver", ["Approvers"], True, False, ""),
    ("agent", ["Agents"], False, False, "agent1234"),
    ("launcher", ["Agents", "Production launchers"], False, False, "agent5678"),
    ("auditor", ["Auditors"], True, False, ""),
]
SEED_REASON = "demo data"


@dataclass
class DemoResult:
    created_objects: int
    created_users: list[tuple[str, str]]


def _save(instance, created: list) -> None:
    registry_save(instance=instance, actor=None, reason=SEED_REASON)
    created.append(instance)


@transaction.atomic
def demo_seed(*, emulator_url: str, password: str) -> DemoResult:
    """Create the demo environments, flows, accounts, links and users that are missing."""
    created: list = []
    environments = {}
    for stage, name in ENVIRONMENTS.items():
        environment = PciEnvironment.objects.filter(name=name).first()
        if environment is None:
            environment = PciEnvironment(name=name, stage=stage, provider="PCI Pal")
            _save(environment, created)
        environments[stage] = environment

    flows = {}
    for stage, number, name, origin in FLOWS:
        flow = PaymentFlow.objects.filter(environment=environments[stage], number=number).first()
        if flow is None:
            flow = PaymentFlow(
                environment=environments[stage],
                number=number,
                name=name,
                promoted_from=flows.get(origin),
            )
            _save(flow, created)
        flows[number] = flow

    for name, kind, credentials, links in ACCOUNTS:
        account = VccAccount.objects.filter(name=name).first()
        if account is None:
            account = VccAccount(
                name=name,
                kind=kind,
                region=Region.EMEA,
                auth_base_url=emulator_url,
                payment_base_url=f"{emulator_url}/globalpci",
            )
            _save(account, created)
        for label, client_id, allowed in credentials:
            if not ApiCredential.objects.filter(client_id=client_id).exists():
                credential = ApiCredential(
                    account=account, label=label, client_id=client_id, allowed_environments=allowed
                )
                credential_save(
                    credential=credential,
                    new_secret=secrets.token_urlsafe(24),
                    actor=None,
                    reason=SEED_REASON,
                )
                created.append(credential)
        for configuration_id, number in links.items():
            if not account.configurations.filter(configuration_id=configuration_id).exists():
                link = AccountConfiguration(
                    account=account, configuration_id=configuration_id, flow=flows[number]
                )
                _save(link, created)

    created_users = []
    for username, groups, is_staff, is_superuser, agent_id in USERS:
        if User.objects.filter(username=username).exists():
            continue
        user = User.objects.create_user(
            username,
            email=f"{username}@registry.example",
            password=password,
            is_staff=is_staff,
            is_superuser=is_superuser,
        )
        user.groups.set(Group.objects.filter(name__in=groups))
        if agent_id:
            AgentProfile.objects.create(user=user, agent_id=agent_id)
        created_users.append((username, ", ".join(groups) or "superuser"))
    return DemoResult(created_objects=len(created), created_users=created_users)
