"""Verified promotions: after apply, VCC must start a session on each new production link."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from payments.forms.promotions import LINKS_PREFIX
from payments.models import (
    AccountConfiguration,
    AuditEvent,
    AuditOutcome,
    LinkProbe,
    Notification,
    PaymentFlow,
    Promotion,
    PromotionState,
    VccAccount,
    VerificationState,
)
from payments.services import (
    promotion_apply,
    promotion_approve,
    promotion_request,
    promotion_rollback,
    promotion_verify,
)
from payments.tasks import promotion_verify_task
from tests.conftest import point_accounts_at, provision_from_registry

pytestmark = pytest.mark.django_db

REASON = "3-D Secure card payments go live"


@pytest.fixture
def emulator(demo, vcc_emulator, settings):
    settings.VCC_MAX_RETRIES = 1
    settings.VCC_BACKOFF_BASE = 0.01
    settings.VCC_BACKOFF_CAP = 0.02
    settings.VCC_PROBE_AGENT_ID = "probe-agent-1"
    point_accounts_at(vcc_emulator)
    return vcc_emulator


@pytest.fixture
def requester(people):
    """The demo's registry admin, who may also probe production (the Production launchers)."""
    user = people["registry"]
    user.groups.add(Group.objects.get(name="Production launchers"))
    return type(user).objects.get(pk=user.pk)  # a fresh object: no cached permissions


def request(requester, flow, *, verify=True, **overrides):
    arguments = {
        "source_flow": flow,
        "target_account": VccAccount.objects.get(name="Production"),
        "production_flow_number": 424,
        "configuration_id": 3,
        "reason": REASON,
        "actor": requester,
        "links": [(VccAccount.objects.get(name="Contact Centre"), 6)],
        "verify_after_apply": verify,
        "confirm_account_name": "Production" if verify else "",
    }
    arguments.update(overrides)
    return promotion_request(**arguments)


def apply(promotion, people, django_capture_on_commit_callbacks):
    """Approve and apply; return the promotion and the callbacks apply left for its commit."""
    promotion_approve(promotion=promotion, actor=people["approver"])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        promotion = promotion_apply(promotion=promotion, actor=people["approver"])
    return promotion, callbacks


def verify_tasks_enqueued() -> list:
    return list(
        DBTaskResult.objects.filter(task_path__endswith="promotion_verify_task").values_list(
            "args_kwargs", flat=True
        )
    )


def new_links(promotion) -> list[AccountConfiguration]:
    return list(
        AccountConfiguration.objects.filter(
            promotion_changes__promotion=promotion, promotion_changes__kind="link"
        ).order_by("account__name")
    )


def provision(server, *, leave_out=()):
    """VCC as Vonage provisioned it: the registry's links (now with the new ones), less some."""
    provision_from_registry(server, leave_out=leave_out)


def test_verified_promotion_all_links_start_sessions(
    emulator, people, requester, new_flow, django_capture_on_commit_callbacks
):
    promotion, callbacks = apply(
        request(requester, new_flow), people, django_capture_on_commit_callbacks
    )
    assert promotion.verification == VerificationState.PENDING
    # Enqueued for the worker once apply commits, not run inside apply.
    assert verify_tasks_enqueued() == [{"args": [promotion.pk], "kwargs": {}}]
    assert not LinkProbe.objects.exists()
    provision(emulator)

    assert promotion_verify_task.call(promotion.pk) == VerificationState.VERIFIED

    promotion.refresh_from_db()
    assert promotion.verification == VerificationState.VERIFIED
    assert promotion.verification_checked_at is not None
    links = new_links(promotion)
    assert [(link.account.name, link.configuration_id) for link in links] == [
        ("Contact Centre", 6),
        ("Production", 3),
    ]
    assert all(link.is_active for link in links)
    assert all(LinkProbe.objects.get(link=link).ok for link in links)
    event = AuditEvent.objects.get(action="promotion.verified")
    assert event.outcome == AuditOutcome.SUCCESS
    assert event.actor_name == "approver"  # the applier
    notification = Notification.objects.get(action="promotion.verified")
    recipients = set(notification.deliveries.values_list("recipient__username", flat=True))
    assert recipients == {"registry", "approver"}


def test_verified_promotion_refused_link_switches_new_links_off_and_tells_people(
    emulator, people, requester, new_flow, django_capture_on_commit_callbacks
):
    promotion, _ = apply(request(requester, new_flow), people, django_capture_on_commit_callbacks)
    provision(emulator, leave_out=[("Contact Centre", 6)])

    promotion_verify_task.call(promotion.pk)

    promotion.refresh_from_db()
    assert promotion.state == PromotionState.APPLIED
    assert promotion.verification == VerificationState.FAILED
    assert "Contact Centre" in promotion.verification_message
    assert "Ask Vonage to provision configuration id 6" in promotion.verification_message
    assert not any(link.is_active for link in new_links(promotion))
    event = AuditEvent.objects.get(action="promotion.verification_failed")
    assert event.outcome == AuditOutcome.FAILURE
    notification = Notification.objects.get(action="promotion.verification_failed")
    assert "refused by VCC" in notification.subject
    recipients = set(notification.deliveries.values_list("recipient__username", flat=True))
    assert recipients == {"registry", "approver"}
    # Switched off through the promotion, not refused as a direct production write.
    assert not AuditEvent.objects.filter(
        action="accountconfiguration.changed", outcome=AuditOutcome.DENIED
    ).exists()


def test_verified_promotion_failed_state_shown_on_page_and_list(
    emulator, people, requester, new_flow, client, django_capture_on_commit_callbacks
):
    promotion, _ = apply(request(requester, new_flow), people, django_capture_on_commit_callbacks)
    provision(emulator, leave_out=[("Production", 3)])
    promotion_verify_task.call(promotion.pk)
    client.force_login(people["approver"])

    page = client.get(reverse("payments:promotion", args=[promotion.pk])).content.decode()
    listing = client.get(reverse("payments:promotions")).content.decode()

    assert "Applied — verification failed" in page
    assert "Ask Vonage to provision configuration id 3" in page
    assert "Applied — verification failed" in listing


def test_verified_promotion_verify_again_switches_links_back_on(
    emulator, people, requester, new_flow, django_capture_on_commit_callbacks
):
    promotion, _ = apply(request(requester, new_flow), people, django_capture_on_commit_callbacks)
    provision(emulator, leave_out=[("Contact Centre", 6)])
    promotion_verify_task.call(promotion.pk)
    provision(emulator)  # Vonage provisions the id they were asked for

    promotion = promotion_verify(
        promotion=promotion, actor=requester, confirm_account_name="Production", retry=True
    )

    assert promotion.verification == VerificationState.VERIFIED
    assert all(link.is_active for link in new_links(promotion))
    assert AuditEvent.objects.filter(action="promotion.verified").get().actor_name == "registry"


def test_verified_promotion_verify_again_needs_permission_and_typed_name(
    emulator, people, requester, new_flow, django_capture_on_commit_callbacks
):
    promotion, _ = apply(request(requester, new_flow), people, django_capture_on_commit_callbacks)
    provision(emulator, leave_out=[("Contact Centre", 6)])
    promotion_verify_task.call(promotion.pk)
    provision(emulator)

    with pytest.raises(PermissionDenied):
        promotion_verify(
            promotion=promotion,
            actor=people["approver"],
            confirm_account_name="Production",
            retry=True,
        )
    with pytest.raises(ValidationError):
        promotion_verify(
            promotion=promotion, actor=requester, confirm_account_name="Prod", retry=True
        )

    promotion.refresh_from_db()
    assert promotion.verification == VerificationState.FAILED
    assert not any(link.is_active for link in new_links(promotion))
    denied = AuditEvent.objects.filter(action="promotion.verified", outcome=AuditOutcome.DENIED)
    assert denied.count() == 2


def test_verified_promotion_rollback_after_failure_keeps_links_off(
    emulator, people, requester, new_flow, django_capture_on_commit_callbacks
):
    promotion, _ = apply(request(requester, new_flow), people, django_capture_on_commit_callbacks)
    provision(emulator, leave_out=[("Contact Centre", 6)])
    promotion_verify_task.call(promotion.pk)

    promotion = promotion_rollback(
        promotion=promotion, actor=people["approver"], reason="VCC lacks id 6"
    )
    provision(emulator)
    promotion = promotion_verify(
        promotion=promotion, actor=requester, confirm_account_name="Production", retry=True
    )

    assert promotion.state == PromotionState.ROLLED_BACK
    assert not any(link.is_active for link in new_links(promotion))
    assert not AuditEvent.objects.filter(action="promotion.verified").exists()


def test_verified_promotion_default_off_probes_nothing(
    emulator, people, requester, new_flow, django_capture_on_commit_callbacks
):
    promotion, callbacks = apply(
        request(requester, new_flow, verify=False), people, django_capture_on_commit_callbacks
    )

    assert promotion.verify_after_apply is False
    assert verify_tasks_enqueued() == []
    assert promotion.verification == ""
    assert promotion_verify_task.call(promotion.pk) == ""
    assert not LinkProbe.objects.exists()
    assert all(link.is_active for link in new_links(promotion))
    assert not AuditEvent.objects.filter(action__startswith="promotion.verif").exists()


def test_verified_promotion_request_needs_probe_permission(people, new_flow):
    with pytest.raises(PermissionDenied, match="production probe permission"):
        request(people["registry"], new_flow)


def test_verified_promotion_request_needs_typed_account_name(requester, new_flow):
    with pytest.raises(ValidationError) as caught:
        request(requester, new_flow, confirm_account_name="production")

    assert "confirm_account_name" in caught.value.message_dict
    assert not PaymentFlow.objects.filter(number=424).exists()


def test_verified_promotion_request_form_offers_it_off_by_default(requester, client, new_flow):
    client.force_login(requester)
    page = client.get(reverse("payments:promotion_new")).content.decode()
    assert 'name="verify_after_apply"' in page
    assert 'name="verify_after_apply" checked' not in page

    response = client.post(
        reverse("payments:promotion_new"),
        {
            "source_flow": new_flow.pk,
            "target_account": VccAccount.objects.get(name="Production").pk,
            "production_flow_number": 424,
            "configuration_id": 3,
            "reason": REASON,
            "verify_after_apply": "on",
            "confirm_account_name": "Production",
            "idempotency_key": "5f0c1a52-4f7e-4b7e-9d8e-2a4c8f1e0b11",
            f"{LINKS_PREFIX}-TOTAL_FORMS": "0",
            f"{LINKS_PREFIX}-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    assert Promotion.objects.get(production_flow_number=424).verify_after_apply is True


def test_verified_promotion_verify_again_from_the_page(
    emulator, people, requester, new_flow, client, django_capture_on_commit_callbacks
):
    promotion, _ = apply(request(requester, new_flow), people, django_capture_on_commit_callbacks)
    provision(emulator, leave_out=[("Contact Centre", 6)])
    promotion_verify_task.call(promotion.pk)
    provision(emulator)
    client.force_login(requester)
    url = reverse("payments:promotion", args=[promotion.pk])
    assert "Verify again" in client.get(url).content.decode()

    client.post(
        reverse("payments:promotion_step", args=[promotion.pk, "verify"]),
        {"confirm_account_name": "Production"},
    )

    promotion.refresh_from_db()
    assert promotion.verification == VerificationState.VERIFIED
    assert "Applied — verified" in client.get(url).content.decode()
