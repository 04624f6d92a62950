"""Shared pieces of the worker, notification, schedule and freeze tests."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import PeriodicJob, Promotion
from payments.services import promotion_approve


@pytest.fixture
def no_credential_checks(db):
    """Keep the jobs that call VCC (credential checks, link probes) out of `--once` runs."""
    for name in ("credentials_check", "links_probe_staging"):
        PeriodicJob.objects.create(name=name, next_run_at=timezone.now() + timedelta(days=1))


@pytest.fixture
def no_link_probes(db):
    """Keep the scheduled link probes (which call VCC) out of `registry_worker --once`."""
    PeriodicJob.objects.create(
        name="links_probe_staging", next_run_at=timezone.now() + timedelta(days=1)
    )


def approve(people, promotion) -> Promotion:
    return promotion_approve(promotion=promotion, actor=people["approver"])


@pytest.fixture(autouse=True)
def keep_test_connection(monkeypatch):
    """The library's worker closes connections in a transaction (the test's own) between polls."""
    monkeypatch.setattr(
        "django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None
    )
