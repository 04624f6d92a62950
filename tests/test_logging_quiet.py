import logging


def test_idle_task_worker_polls_are_not_logged():
    """The worker's per-poll INFO lines stay out of the demo's terminal; warnings still show."""
    for name in ("django_tasks_db", "django_tasks"):
        logger = logging.getLogger(name)
        assert not logger.isEnabledFor(logging.INFO)
        assert logger.isEnabledFor(logging.WARNING)
