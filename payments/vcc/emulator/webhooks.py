"""Status webhooks: POSTed like VCC does when a session finishes, retried until answered 200."""

import heapq
import itertools
import logging
import threading
import time

import requests

from payments.vcc.emulator.faults import Faults, Stats

logger = logging.getLogger("payments.vcc.emulator")


class WebhookSender:
    """One background thread delivering queued webhooks in due order."""

    def __init__(self, *, url: str, token: str, faults: Faults, stats: Stats):
        self.url = url
        self.token = token
        self.faults = faults
        self.stats = stats
        self._queue: list = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="vcc-emulator-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=5)

    def send(self, session) -> None:
        session.webhook = "pending"
        self._schedule(time.monotonic(), session, attempt=1)

    def _schedule(self, when: float, session, *, attempt: int) -> None:
        with self._wake:
            heapq.heappush(self._queue, (when, next(self._order), session, attempt))
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and (
                    not self._queue or self._queue[0][0] > time.monotonic()
                ):
                    timeout = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._wake.wait(timeout)
                if self._stopping:
                    return
                _, _, session, attempt = heapq.heappop(self._queue)
            self._deliver(session, attempt)

    def _deliver(self, session, attempt: int) -> None:
        self.stats.count("webhook_attempts")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = requests.post(
                self.url,
                json=session.status(),
                headers=headers,
                timeout=(2, 5),
                allow_redirects=False,
            )
            outcome = response.status_code
        except requests.RequestException as exc:
            outcome = type(exc).__name__
        if outcome == 200:
            session.webhook = "delivered"
            self.stats.count("webhooks_delivered")
            logger.info("Webhook for session %s delivered (attempt %d)", session.guid, attempt)
            return
        if attempt >= self.faults.webhook_max_attempts:
            session.webhook = f"abandoned after {attempt} attempts ({outcome})"
            self.stats.count("webhooks_abandoned")
            logger.warning("Webhook for session %s abandoned: %s", session.guid, outcome)
            return
        session.webhook = f"retrying ({attempt} failed, last: {outcome})"
        logger.info(
            "Webhook for session %s got %s; retrying in %g s",
            session.guid,
            outcome,
            self.faults.webhook_retry_interval,
        )
        self._schedule(
            time.monotonic() + self.faults.webhook_retry_interval, session, attempt=attempt + 1
        )
