"""Run the same work in several threads released at once (for tests that need row locks)."""

import threading
from dataclasses import dataclass

import pytest
from django.db import connection

JOIN_TIMEOUT_SECONDS = 30

POSTGRES_MARKS = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite ignores SELECT ... FOR UPDATE, so a pass would mean "
        "nothing (set DATABASE_URL=postgres://...)",
    ),
]


def postgres_only(test):
    """Mark a test that needs real row locks: committed data, PostgreSQL, skipped elsewhere."""
    for mark in POSTGRES_MARKS:
        test = mark(test)
    return test


@dataclass
class Outcome:
    value: object = None
    error: BaseException | None = None


def run_together(count: int, work) -> list[Outcome]:
    """Call work(i) in count threads released together by a barrier; return every outcome."""
    barrier = threading.Barrier(count)
    outcomes = [Outcome() for _ in range(count)]

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=JOIN_TIMEOUT_SECONDS)
            outcomes[index].value = work(index)
        except BaseException as exc:
            outcomes[index].error = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT_SECONDS)
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"threads still running after {JOIN_TIMEOUT_SECONDS}s (deadlock?): {stuck}"
    return outcomes
