"""Run the background worker: `--once` runs every due job and exits; without it, until stopped."""

import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils.crypto import get_random_string

from payments.worker import periodic_jobs_enqueue, worker_run_due


class Command(BaseCommand):
    help = "Run the registry's background jobs (notifications, schedules, credential checks)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true", help="Run every job that is due, then exit (cron)."
        )
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between polls (default 1)."
        )
        parser.add_argument(
            "--worker-id",
            default="",
            help="A name unique in the pool (default: the host's pid and a random part).",
        )

    def handle(self, *, once, interval, worker_id, **options):
        self.verbosity = options["verbosity"]
        worker_id = worker_id or f"registry-{get_random_string(12)}"
        if once:
            self._tick(worker_id)
            return
        self.running = True
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        self.stdout.write(f"registry_worker {worker_id} running; Ctrl-C or SIGTERM stops it.")
        while self.running:
            close_old_connections()
            self._tick(worker_id)
            # Sleep in short steps so a stop request is answered within a fraction of a second.
            deadline = time.monotonic() + interval
            while self.running and time.monotonic() < deadline:
                time.sleep(min(0.2, interval))
        self.stdout.write("registry_worker stopped.")

    def _tick(self, worker_id: str) -> None:
        enqueued = periodic_jobs_enqueue()
        if enqueued and self.verbosity > 1:
            self.stdout.write(f"enqueued: {', '.join(enqueued)}")
        worker_run_due(worker_id=worker_id)

    def _stop(self, signum, frame):
        # The job running now finishes; the loop then ends.
        self.running = False
