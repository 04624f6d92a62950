"""Each role can do its job in promotions and the audit review, and nothing more."""

import uuid

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import reverse

from payments.models import (
    PaymentFlow,
    PciEnvironment,
    Promotion,
    PromotionState,
    Stage,
    VccAccount,
)
from payments.roles import ROLES
from payments.services import promotion_approve, promotion_request

pytestmark = pytest.mark.django_db

ROLE_USERS = {
    "registry": "Registry admins",
    "approver": "Approvers",
    "agent": "Agents",
    "auditor": "Auditors",
}


@pytest.fixture
def flow(demo):
    return PaymentFlow.objects.create(
        environment=PciEnvironment.objects.get(stage=Stage.STAGING), number=697, name="3DS"
    )


@pytest.fixture
def requested(people, flow):
    return promotion_request(
        source_flow=flow,
        target_account=VccAccount.objects.get(name="Production"),
        production_flow_number=424,
        configuration_id=3,
        reason="go live",
        actor=people["registry"],
    )


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_each_group_has_exactly_the_permissions_of_its_role(demo):
    for name, codenames in ROLES.items():
        granted = set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))
        assert granted == set(codenames), name


def test_the_groups_exist_after_migrate_and_flush(db):
    names = set(Group.objects.values_list("name", flat=True))
    assert {"Registry admins", "Approvers", "Agents", "Auditors"} <= names


def test_nobody_may_change_or_delete_audit_events_or_delete_anything(demo):
    granted = Permission.objects.filter(group__isnull=False)
    assert not granted.filter(codename__in=["change_auditevent", "delete_auditevent"]).exists()
    assert not granted.filter(codename__startswith="delete_").exists()
    assert not granted.filter(codename__endswith="_auditchainhead").exists()


def test_only_auditors_review_the_audit_trail(demo):
    holders = Group.objects.filter(permissions__codename="view_auditevent")
    assert set(holders.values_list("name", flat=True)) == {"Auditors"}


def test_only_approvers_approve_and_apply(demo):
    for codename in ["approve_promotion", "apply_promotion"]:
        holders = Group.objects.filter(permissions__codename=codename)
        assert set(holders.values_list("name", flat=True)) == {"Approvers"}


def test_only_registry_admins_request_promotions(demo):
    holders = Group.objects.filter(permissions__codename="add_promotion")
    assert set(holders.values_list("name", flat=True)) == {"Registry admins"}


PAGES = ["promotions", "promotion", "environments", "topology", "new", "audit", "export"]
ALLOWED_PAGES = {
    "registry": {"promotions", "promotion", "environments", "topology", "new"},
    "approver": {"promotions", "promotion", "environments", "topology"},
    "auditor": {"promotions", "promotion", "environments", "topology", "audit", "export"},
    "agent": set(),
}


def _page_url(name: str, promotion: Promotion) -> str:
    return {
        "promotions": reverse("payments:promotions"),
        "promotion": reverse("payments:promotion", args=[promotion.pk]),
        "environments": reverse("payments:environments"),
        "topology": reverse("payments:topology"),
        "new": reverse("payments:promotion_new"),
        "audit": reverse("payments:audit"),
        "export": reverse("payments:audit_export", args=["csv"]),
    }[name]


@pytest.mark.parametrize("username", ROLE_USERS)
@pytest.mark.parametrize("page", PAGES)
def test_each_role_opens_exactly_its_pages(people, requested, username, page):
    response = client_for(people[username]).get(_page_url(page, requested))
    expected = 200 if page in ALLOWED_PAGES[username] else 403
    assert response.status_code == expected


STEPS = ["approve", "reject", "apply", "rollback", "cancel"]
# The steps that succeed for each role on someone else's (or their own) request.
ALLOWED_STEPS = {
    "registry": {"cancel"},  # their own request
    "approver": {"approve", "reject"},
    "auditor": set(),
    "agent": set(),
}


@pytest.mark.parametrize("username", ROLE_USERS)
@pytest.mark.parametrize("step", STEPS)
def test_each_role_takes_exactly_its_steps_on_a_request(people, requested, username, step):
    # As the page posts them: a reason, and the version an approval was given on.
    data = {"reason": "because", "seen": requested.updated_at.isoformat()}
    response = client_for(people[username]).post(
        reverse("payments:promotion_step", args=[requested.pk, step]), data
    )
    requested.refresh_from_db()
    if step in ALLOWED_STEPS[username]:
        assert response.status_code == 302
        assert requested.state != PromotionState.REQUESTED
    else:
        assert response.status_code in (302, 403)  # 302: allowed role, wrong state
        assert requested.state == PromotionState.REQUESTED


def test_an_approver_applies_and_rolls_back_what_someone_else_requested(people, requested):
    approver = client_for(people["approver"])
    promotion_approve(promotion=requested, actor=people["approver"])
    approver.post(reverse("payments:promotion_step", args=[requested.pk, "apply"]))
    approver.post(
        reverse("payments:promotion_step", args=[requested.pk, "rollback"]), {"reason": "undo"}
    )
    requested.refresh_from_db()
    assert requested.state == PromotionState.ROLLED_BACK


@pytest.mark.parametrize("username", ["approver", "auditor", "agent"])
def test_only_registry_admins_can_post_a_request(people, flow, username):
    response = client_for(people[username]).post(
        reverse("payments:promotion_new"),
        {
            "source_flow": flow.pk,
            "target_account": VccAccount.objects.get(name="Production").pk,
            "production_flow_number": 424,
            "configuration_id": 3,
            "reason": "go live",
            "idempotency_key": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 403
    assert not Promotion.objects.exists()


def test_the_auditor_sees_promotions_in_the_admin_but_changes_nothing(people, requested):
    client = client_for(people["auditor"])
    change = reverse("admin:payments_promotion_change", args=[requested.pk])
    assert client.get(reverse("admin:payments_promotion_changelist")).status_code == 200
    assert client.get(change).status_code == 200
    assert client.post(change, {"state": "applied"}).status_code == 403
    html = client.get(reverse("admin:payments_promotion_changelist")).content.decode()
    assert "approve_selected" not in html and "apply_selected" not in html


def test_permissions_from_groups_and_the_user_are_read_in_one_query(
    demo, django_assert_num_queries
):
    from django.contrib.auth.backends import ModelBackend

    user = User.objects.get(username="agent")
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    expected = ModelBackend().get_all_permissions(User.objects.get(pk=user.pk))
    user = User.objects.get(pk=user.pk)
    with django_assert_num_queries(1):
        assert user.get_all_permissions() == expected
        assert user.has_perm("payments.add_paymentsession")  # from the Agents group
        assert user.has_perm("payments.view_auditevent")  # the user's own
        assert not user.has_perm("payments.launch_production")


def test_inactive_users_and_superusers_keep_djangos_permission_rules(demo):
    user = User.objects.get(username="agent")
    user.is_active = False
    assert user.get_all_permissions() == set()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert "payments.launch_production" in admin.get_all_permissions()
