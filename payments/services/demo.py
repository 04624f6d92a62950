"""The demo data: both seed topologies of the design, created idempotently, and the world of the
VCC emulator that goes with them."""

import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

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
from payments.vcc.emulator.world import secret_digest

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
# The registry and VCC disagree in one place in the demo, as they can in life: the registry links
# Contact Centre id 3 to flow 699, but Vonage never provisioned that id on the account, so a
# launch there gets VCC's "Account configuration does not exists for account …".
NOT_PROVISIONED_AT_VCC = [("Contact Centre", 3)]
# Vonage provisions a production id before the registry records it ("Vonage will provide" the
# ids): the walk-through promotes flow 699 to production flow 424 as Production id 3 and
# Contact Centre id 6, so VCC already knows those two.
PROVISIONED_AHEAD_AT_VCC = [
    ("Production", 3, 424, "Card payment with 3-D Secure"),
    ("Contact Centre", 6, 424, "Card payment with 3-D Secure"),
]
DEMO_WORLD_ABOUT = (
    "What the VCC emulator has provisioned, written by seed_demo from the demo data; edit it by "
    "hand (the emulator reads it again). Deliberately unlike the registry: Contact Centre "
    "configuration id 3 is not provisioned, and Production id 3 and Contact Centre id 6 already "
    "start production flow 424, which the walk-through's promotions add to the registry. "
    "Secrets are SHA-256 digests."
)


@dataclass
class DemoResult:
    created_objects: int
    created_users: list[tuple[str, str]]


def _save(instance, created: list) -> None:
    # The demo's production rows are a restore of the demo registry, not a production change
    # someone makes: no promotion to apply, nobody signed in (services/production.py).
    registry_save(instance=instance, actor=None, reason=SEED_REASON, restore=True)
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
                    restore=True,
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


def emulator_world_from_registry(*, leave_out=()) -> dict:
    """The emulator world VCC would have if it matched the registry, less (account, id) pairs.

    Every account, credential with a secret and link counts, active or not: the registry's
    switches are not VCC's business.
    """
    left_out = {(name, configuration_id) for name, configuration_id in leave_out}
    accounts = []
    for account in VccAccount.objects.order_by("name").prefetch_related(
        "credentials", "configurations__flow__environment"
    ):
        credentials = [
            {
                "client_id": credential.client_id,
                "client_secret_sha256": secret_digest(credential.client_secret),
            }
            for credential in sorted(account.credentials.all(), key=lambda each: each.client_id)
            if credential.client_secret
        ]
        configurations = [
            {
                "id": link.configuration_id,
                "flow": link.flow.number,
                "flow_name": link.flow.name,
                "stage": link.flow.environment.stage,
                "environment": link.flow.environment.name,
            }
            for link in sorted(account.configurations.all(), key=lambda each: each.configuration_id)
            if (account.name, link.configuration_id) not in left_out
        ]
        accounts.append(
            {"name": account.name, "credentials": credentials, "configurations": configurations}
        )
    return {"accounts": accounts}


def emulator_world_write(*, path: str | Path, world: dict) -> Path:
    """Write an emulator world file at once (the running emulator never reads half of one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(world, file, indent=2)
            file.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def demo_emulator_world_write(*, path: str | Path) -> Path:
    """Write the demo's emulator world: the registry's, but for NOT_PROVISIONED_AT_VCC."""
    world = {
        "about": DEMO_WORLD_ABOUT,
        **emulator_world_from_registry(leave_out=NOT_PROVISIONED_AT_VCC),
    }
    production = PciEnvironment.objects.filter(stage=Stage.PRODUCTION).order_by("pk").first()
    for account in world["accounts"]:
        taken = {each["id"] for each in account["configurations"]}
        for name, configuration_id, number, flow_name in PROVISIONED_AHEAD_AT_VCC:
            if name == account["name"] and configuration_id not in taken and production:
                account["configurations"].append(
                    {
                        "id": configuration_id,
                        "flow": number,
                        "flow_name": flow_name,
                        "stage": Stage.PRODUCTION,
                        "environment": production.name,
                    }
                )
    return emulator_world_write(path=path, world=world)
