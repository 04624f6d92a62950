import threading
import time
from collections import Counter
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from payments.models import Delivery, DeliveryState, PeriodicJob
from payments.services import deliveries, notifications
from payments.services.deliveries import deliveries_send_due
from payments.worker import periodic_jobs_enqueue, worker_run_due
from tests.promotion_support import request as request_promotion
from tests.threads import postgres_only, run_together
from tests.worker_support import (
    keep_test_connection,
    no_credential_checks,
    no_link_probes,
)

__all__ = ["keep_test_connection", "no_credential_checks", "no_link_probes"]

RUNS: list[str] = []
RUNS_LOCK = threading.Lock()


@task()
def record_run(label: str) -> str:
    """A task the tests enqueue: records each run, slowly enough for two workers to overlap."""
    time.sleep(0.02)
    with RUNS_LOCK:
        RUNS.append(label)
    return label


@task()
def always_fails() -> None:
    raise RuntimeError("the receiving system is down")


@pytest.mark.django_db
def test_periodic_jobs_are_enqueued_once_per_interval():
    now = timezone.now()

    first = periodic_jobs_enqueue(now=now)
    again = periodic_jobs_enqueue(now=now + timedelta(seconds=1))
    later = periodic_jobs_enqueue(now=now + timedelta(seconds=61))

    assert first == [
        "deliveries_send",
        "schedules_apply",
        "credentials_check",
        "links_probe_staging",
        "audit_digest",
    ]
    assert again == []
    assert later == ["deliveries_send", "schedules_apply"]
    assert PeriodicJob.objects.get(name="credentials_check").next_run_at == now + timedelta(days=1)


@pytest.mark.django_db
def test_registry_worker_once_runs_every_due_job_and_exits(no_credential_checks):
    RUNS.clear()
    record_run.enqueue("queued by hand")
    record_run.using(run_after=timezone.now() + timedelta(hours=1)).enqueue("not due yet")

    call_command("registry_worker", "--once")

    assert RUNS == ["queued by hand"]
    finished = DBTaskResult.objects.successful().values_list("task_path", flat=True)
    assert sorted(finished) == [
        "payments.tasks.audit_digest",
        "payments.tasks.deliveries_send",
        "payments.tasks.schedules_apply",
        "tests.test_worker.record_run",
    ]
    assert DBTaskResult.objects.ready().count() == 0
    assert DBTaskResult.objects.filter(status="READY").count() == 1  # the one due in an hour


@pytest.mark.django_db
def test_a_failed_job_is_kept_with_its_traceback_for_admins(admin_client):
    always_fails.enqueue()

    worker_run_due(worker_id="test-worker")

    failed = DBTaskResult.objects.failed().get()
    assert "the receiving system is down" in failed.traceback
    page = admin_client.get("/admin/django_tasks_database/dbtaskresult/").content.decode()
    assert "always_fails" in page


@pytest.mark.django_db
def test_the_daily_credential_check_notifies_a_failure(demo, no_link_probes):
    with mock.patch(
        "payments.services.credentials._token_grant_problem",
        return_value="VCC answered 401: invalid_client",
    ):
        call_command("registry_worker", "--once")

    assert DBTaskResult.objects.successful().filter(task_path__endswith="credentials_check")
    refused = notifications.Notification.objects.filter(action="credential.verified")
    assert refused.exists()
    assert "invalid_client" in refused.first().body


@postgres_only
def test_two_workers_never_run_one_task_twice():
    RUNS.clear()
    for number in range(12):
        record_run.enqueue(f"task {number}")

    outcomes = run_together(2, lambda index: worker_run_due(worker_id=f"worker-{index}"))

    assert [outcome.error for outcome in outcomes] == [None, None]
    assert Counter(RUNS) == {f"task {number}": 1 for number in range(12)}
    worker_ids = {tuple(result.worker_ids) for result in DBTaskResult.objects.all()}
    assert all(len(ids) == 1 for ids in worker_ids)


@postgres_only
def test_two_workers_never_deliver_one_notification_twice(demo, new_flow):
    people = {user.username: user for user in demo_users()}
    request_promotion(people, new_flow)
    for _ in range(5):
        # Several notifications, each with deliveries to the approvers.
        notifications.notifications_for_event(
            notifications.AuditEvent.objects.get(action="promotion.requested")
        )
    pending = set(Delivery.objects.filter(state=DeliveryState.PENDING).values_list("pk", flat=True))
    assert len(pending) >= 10
    sent: list[int] = []
    lock = threading.Lock()

    def slow_send(delivery):
        time.sleep(0.02)
        with lock:
            sent.append(delivery.pk)

    with mock.patch.object(deliveries, "send_email", slow_send):
        outcomes = run_together(2, lambda index: deliveries_send_due())

    assert [outcome.error for outcome in outcomes] == [None, None]
    assert sorted(sent) == sorted(pending)  # each exactly once
    assert sum(outcome.value for outcome in outcomes) == len(pending)
    assert all(outcome.value > 0 for outcome in outcomes)  # both workers did share the work
    assert not Delivery.objects.exclude(state=DeliveryState.SENT).filter(pk__in=pending).exists()
    connection.close()


def demo_users():
    from django.contrib.auth.models import User

    return User.objects.all()


@pytest.mark.django_db
def test_the_worker_writes_a_signed_audit_digest_on_schedule(no_credential_checks, settings):
    """The audit digest job writes a digest file that verify_audit_log then checks."""
    from payments.services.audit_digest import audit_verify_digests

    call_command("registry_worker", "--once")

    digests = list(settings.AUDIT_DIGEST_DIR.glob("*.json"))
    assert len(digests) == 1
    check, _ = audit_verify_digests()
    assert check.problems == []
