"""The background worker: periodic jobs enqueued from a schedule table, run by django-tasks.

Every worker process calls periodic_jobs_enqueue() between polls. Each job's row in PeriodicJob
is locked (skipping rows another worker holds) and moved on in the same transaction that
enqueues its task, so with any number of workers each job is enqueued once per interval. The
tasks themselves are claimed by django-tasks-db's worker with SELECT … FOR UPDATE SKIP LOCKED.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker

from payments import tasks
from payments.models import PeriodicJob

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    task: object
    interval_setting: str

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=getattr(settings, self.interval_setting))


PERIODIC_JOBS = [
    Job("deliveries_send", tasks.deliveries_send, "WORKER_DELIVERY_INTERVAL"),
    Job("schedules_apply", tasks.schedules_apply, "WORKER_SCHEDULE_INTERVAL"),
    Job("credentials_check", tasks.credentials_check, "CREDENTIAL_CHECK_INTERVAL"),
    Job("links_probe_staging", tasks.links_probe_staging, "LINK_PROBE_INTERVAL"),
    Job("audit_digest", tasks.audit_digest, "AUDIT_DIGEST_INTERVAL"),
]


def periodic_jobs_enqueue(*, now=None) -> list[str]:
    """Enqueue each periodic job whose time has come; return the names enqueued."""
    now = now or timezone.now()
    enqueued = []
    for job in PERIODIC_JOBS:
        _ensure_row(job.name, now)
        with transaction.atomic():
            row = (
                PeriodicJob.objects.select_for_update(skip_locked=True)
                .filter(name=job.name, next_run_at__lte=now)
                .first()
            )
            if row is None:
                continue
            job.task.enqueue()
            row.last_enqueued_at = now
            row.next_run_at = now + job.interval
            row.save(update_fields=["last_enqueued_at", "next_run_at"])
        enqueued.append(job.name)
    return enqueued


def _ensure_row(name: str, now) -> None:
    if PeriodicJob.objects.filter(name=name).exists():
        return
    try:
        with transaction.atomic():
            PeriodicJob.objects.create(name=name, next_run_at=now)
    except IntegrityError:
        pass  # another worker created it a moment ago


def worker_run_due(*, worker_id: str, backend_name: str = "default") -> None:
    """Run every task that is ready now, then return (django-tasks-db's worker in batch mode)."""
    Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name=backend_name,
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    ).run()
