"""The background jobs, as tasks of Django's tasks framework (run by registry_worker)."""

from django.utils import timezone
from django_tasks import task


@task()
def deliveries_send() -> int:
    """Send the notification deliveries that are due (new ones and retries)."""
    from payments.services.deliveries import deliveries_send_due

    return deliveries_send_due()


@task()
def schedules_apply() -> list[int]:
    """Apply the scheduled promotions that are due."""
    from payments.services.schedules import schedules_apply_due

    return [schedule.promotion_id for schedule in schedules_apply_due()]


@task()
def credentials_check() -> dict:
    """Check every enabled credential with VCC; a failure is audited and so notified."""
    from payments.services.credentials import credentials_verify_all

    failed = credentials_verify_all()
    return {"checked_at": timezone.now().isoformat(), "failed": failed}


@task()
def links_probe_staging() -> dict:
    """Probe every active staging link with VCC; a newly failing one is audited and notified."""
    from payments.services.probes import links_probe

    results = links_probe(actor=None, origin="registry_worker probes", stage="staging")
    failed = [str(result.probe.link) for result in results if not result.ok]
    return {"probed": len(results), "failed": failed}


@task()
def promotion_verify_task(promotion_id: int) -> str:
    """Probe an applied promotion's new links as its applier (enqueued when apply commits)."""
    from payments.models import Promotion
    from payments.services.promotions.verify import WORKER_ORIGIN, promotion_verify

    promotion = Promotion.objects.select_related("applied_by").get(pk=promotion_id)
    verified = promotion_verify(
        promotion=promotion, actor=promotion.applied_by, origin=WORKER_ORIGIN
    )
    return verified.verification


@task()
def audit_digest() -> str:
    """Sign the audit chain's head into AUDIT_DIGEST_DIR (ship the file off the host)."""
    from payments.services.audit_digest import audit_digest_write

    return str(audit_digest_write())
