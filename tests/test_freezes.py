from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from payments.models import (
    AuditEvent,
    ChangeFreeze,
    Notification,
    PromotionState,
    VccAccount,
)
from payments.services import promotion_apply
from payments.services.freezes import freeze_check, freeze_save
from tests.promotion_support import request as request_promotion
from tests.worker_support import approve

pytestmark = pytest.mark.django_db


def freeze(hours_from_now=0, hours=4, reason="Peak season", accounts=None):
    start = timezone.now() + timedelta(hours=hours_from_now)
    created = ChangeFreeze.objects.create(
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        reason=reason,
        all_production_accounts=accounts is None,
    )
    if accounts:
        created.accounts.set(accounts)
    return created


def test_applying_during_a_freeze_is_refused_with_reason_and_end(people, new_flow):
    promotion = approve(people, request_promotion(people, new_flow))
    window = freeze(reason="Peak season")

    with pytest.raises(ValidationError) as excinfo:
        promotion_apply(promotion=promotion, actor=people["approver"])

    message = " ".join(excinfo.value.messages)
    assert "Peak season" in message
    assert f"{timezone.localtime(window.ends_at):%Y-%m-%d %H:%M}" in message
    promotion.refresh_from_db()
    assert promotion.state == PromotionState.APPROVED
    refused = AuditEvent.objects.get(action="promotion.applied")
    assert refused.outcome == "failure"
    blocked = Notification.objects.get(action="promotion.applied")
    assert "could not be applied" in blocked.subject
    assert {d.recipient.username for d in blocked.deliveries.all()} == {"registry", "approver"}


def test_applying_after_the_freeze_works(people, new_flow):
    promotion = approve(people, request_promotion(people, new_flow))
    freeze(hours_from_now=-5, hours=4)

    applied = promotion_apply(promotion=promotion, actor=people["approver"])

    assert applied.state == PromotionState.APPLIED


def test_a_freeze_on_named_accounts_covers_only_those(demo):
    production = VccAccount.objects.get(name="Production")
    others = VccAccount.objects.exclude(pk=production.pk)
    freeze(accounts=[production])

    with pytest.raises(ValidationError):
        freeze_check(account=production)
    for account in others:
        freeze_check(account=account)  # no error


def test_an_all_production_freeze_leaves_sandbox_accounts_alone(demo):
    freeze()
    sandbox = VccAccount.objects.exclude(kind__in=["production", "combined"]).first()

    freeze_check(account=sandbox)
    with pytest.raises(ValidationError):
        freeze_check(account=VccAccount.objects.get(name="Production"))


def test_freeze_save_is_audited(people):
    now = timezone.now()
    window = ChangeFreeze(starts_at=now, ends_at=now + timedelta(hours=3), reason="Release week")

    freeze_save(freeze=window, actor=people["registry"])

    event = AuditEvent.objects.get(action="freeze.created")
    assert event.actor == people["registry"]
    assert event.after["reason"] == "Release week"
    assert window.created_by == people["registry"]


def test_freeze_save_refuses_an_end_before_the_start(people):
    now = timezone.now()

    with pytest.raises(ValidationError):
        freeze_save(
            freeze=ChangeFreeze(starts_at=now, ends_at=now - timedelta(hours=1), reason="x"),
            actor=people["registry"],
        )


@pytest.mark.parametrize(
    ("hours_from_now", "shown", "words"),
    [
        (0, True, "Change freeze in force"),
        (20, True, "Change freeze from"),
        (30, False, ""),
        (-10, False, ""),
    ],
)
def test_banner_shows_a_freeze_in_force_or_within_24_hours(
    client, people, hours_from_now, shown, words
):
    freeze(hours_from_now=hours_from_now, hours=4, reason="Peak season")
    client.force_login(people["agent"])

    page = client.get("/").content.decode()

    assert ('id="freeze-banner"' in page) is shown
    assert ("Peak season" in page) is shown
    if shown:
        assert words in page


def test_registry_admin_creates_a_freeze_in_the_admin(client, people):
    client.force_login(people["registry"])
    start = timezone.localtime(timezone.now())
    end = start + timedelta(hours=6)

    response = client.post(
        "/admin/payments/changefreeze/add/",
        {
            "starts_at_0": start.strftime("%Y-%m-%d"),
            "starts_at_1": start.strftime("%H:%M:%S"),
            "ends_at_0": end.strftime("%Y-%m-%d"),
            "ends_at_1": end.strftime("%H:%M:%S"),
            "reason": "Year-end close",
            "all_production_accounts": "on",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert ChangeFreeze.objects.get().reason == "Year-end close"
    assert AuditEvent.objects.filter(action="freeze.created", actor=people["registry"]).exists()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/payments/changefreeze/",
        "/admin/payments/changefreeze/add/",
        "/admin/password_change/",
    ],
)
def test_banner_shows_on_the_admins_pages(client, people, url):
    freeze(hours_from_now=0, hours=4, reason="Peak season")
    client.force_login(people["registry"])

    response = client.get(url)

    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('id="freeze-banner"') == 1
    assert "Change freeze in force" in page and "Peak season" in page


def test_banner_is_not_on_the_admins_login_page(client, people):
    freeze(hours_from_now=0, hours=4, reason="Peak season")

    page = client.get("/admin/login/").content.decode()

    assert 'id="freeze-banner"' not in page
    assert "Peak season" not in page
