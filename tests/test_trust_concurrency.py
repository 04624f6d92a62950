"""The same configuration link created at once: the "already exists" refusal, never a 500."""

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse

from payments.models import AccountConfiguration, AuditEvent, PaymentFlow, VccAccount
from payments.services import registry_save
from tests.threads import postgres_only, run_together

THREADS = 12


def _link_data() -> dict:
    return {
        "account": VccAccount.objects.get(name="Sandbox").pk,
        "configuration_id": 77,
        "flow": PaymentFlow.objects.get(number=696).pk,
        "is_active": "on",
        "notes": "",
        "change_reason": "",
    }


@pytest.mark.django_db
def test_registry_save_of_a_link_created_meanwhile_is_a_validation_error(demo):
    """Another writer inserts the same link between this save's checks and its INSERT."""
    actor = User.objects.get(username="admin")
    account = VccAccount.objects.get(name="Sandbox")
    flow = PaymentFlow.objects.get(number=696)
    link = AccountConfiguration(account=account, configuration_id=77, flow=flow)
    real_full_clean = link.full_clean

    def full_clean_then_lose_the_race(*args, **kwargs):
        real_full_clean(*args, **kwargs)
        AccountConfiguration.objects.create(account=account, configuration_id=77, flow=flow)

    link.full_clean = full_clean_then_lose_the_race
    events_before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as info:
        registry_save(instance=link, actor=actor)
    assert "already exists" in " ".join(info.value.messages)
    assert link.pk is None
    # The connection stays usable (no aborted transaction) and nothing was recorded for the
    # save that did not happen (the simulated writer shared this transaction, so it is gone too).
    assert AccountConfiguration.objects.filter(account=account, configuration_id=77).count() == 0
    assert AuditEvent.objects.count() == events_before


@postgres_only
def test_concurrent_admin_creates_of_one_link_get_already_exists_not_500(demo):
    admin = User.objects.create_superuser("racer", password="correct horse battery")
    url = reverse("admin:payments_accountconfiguration_add")
    data = _link_data()

    def work(_index):
        client = Client(raise_request_exception=False)
        client.force_login(admin)
        client.get(url)  # every client holds its own session before the barrier is passed
        try:
            return client.post(url, data, follow=True)
        finally:
            connection.close()

    outcomes = run_together(THREADS, work)
    assert [outcome.error for outcome in outcomes] == [None] * THREADS
    responses = [outcome.value for outcome in outcomes]
    assert [response.status_code for response in responses] == [200] * THREADS
    # The form's duplicate-id error, at the field, naming the flow the id already starts; a
    # race lost at the INSERT gets the same check's "already exists".
    duplicate = ("already starts flow", "already exists")
    refused = [r for r in responses if any(text in r.content.decode() for text in duplicate)]
    created = [r for r in responses if "was added successfully" in r.content.decode()]
    assert (len(created), len(refused)) == (1, THREADS - 1)
    assert AccountConfiguration.objects.filter(configuration_id=77).count() == 1
    created_events = AuditEvent.objects.filter(action="accountconfiguration.created", actor=admin)
    assert created_events.count() == 1
