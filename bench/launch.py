"""Launch overhead and token economy: the registry's launch service against a bare POST."""

import multiprocessing
import os
import statistics
import time
from pathlib import Path

import requests

from bench.common import free_port, start_process

PAYMENT_DATA = {"Amount": "12.40", "Currency": "GBP", "MerchantReferenceCode": "bench"}
TIMEOUT = (3.05, 10)


class Emulator:
    """The VCC emulator as its own process, provisioned with the benchmark registry's world."""

    def __init__(self, port: int):
        from payments.services.demo import emulator_world_from_registry, emulator_world_write

        self.url = f"http://127.0.0.1:{port}"
        world = emulator_world_write(
            path=Path(os.environ["ENV_FILE"]).parent / "vcc-emulator-world.json",
            world=emulator_world_from_registry(),
        )
        self.process = start_process(
            ["manage.py", "vcc_emulator", "--port", str(port), "--world", str(world)]
            + ["--webhook-url", ""],
            env=os.environ.copy(),
            ready_url=f"{self.url}/_emulator/stats",
            what="The VCC emulator",
        )
        # As `make demo` does: the emulator is the configured one, so the agent page it returns
        # is an allowed one (payments/vcc/agent_pages.py). Without this every launch would take
        # the refusal path (a warning and an error written on the session), which no configured
        # deployment takes. Spawned workers and gunicorn inherit the environment.
        from django.conf import settings

        os.environ["VCC_EMULATOR_URL"] = self.url
        settings.VCC_EMULATOR_URL = self.url

    def control(self, path: str, payload: dict | None = None) -> dict:
        if payload is None:
            response = requests.get(f"{self.url}/_emulator/{path}", timeout=5)
        else:
            response = requests.post(f"{self.url}/_emulator/{path}", json=payload, timeout=5)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def point_demo_accounts_at(url: str) -> None:
    from payments.models import VccAccount

    VccAccount.objects.update(auth_base_url=url, payment_base_url=f"{url}/globalpci")


def _link_and_agent():
    from django.contrib.auth.models import User

    from payments.models import AccountConfiguration

    link = AccountConfiguration.objects.with_related().get(
        account__name="Sandbox", configuration_id=1
    )
    return link, User.objects.get(username="agent")


def _launch(link, agent) -> None:
    from payments.services.launches import session_launch

    result = session_launch(
        link=link,
        launched_by=agent,
        kind="agent_assist",
        payment_data=PAYMENT_DATA,
        agent_id="agent1234",
    )
    if result.error is not None:
        raise RuntimeError(f"launch failed: {result.error.message}")
    if result.agent_session is None:  # the measured path is the one a configured deployment takes
        raise RuntimeError(f"launch took the refusal path: {result.session.error}")


def _bare_token(link) -> str:
    credential = link.launch_credentials().first()
    response = requests.post(
        f"{link.account.auth_base_url}/Auth/connect/token",
        data={
            "grant_type": "client_credentials",
            "scope": "globalpci",
            "client_id": credential.client_id,
            "client_secret": credential.client_secret,
        },
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def _bare_launch(link, token: str) -> None:
    response = requests.post(
        f"{link.account.payment_base_url}/v1/session",
        json={
            "agentId": "agent1234",
            "paymentData": PAYMENT_DATA,
            "accountConfigurationId": link.configuration_id,
            "skipCallTransfer": True,
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    response.raise_for_status()


def _side_by_side(link, agent, token: str, repetitions: int) -> tuple[float, float]:
    """Alternate registry and bare launches; return both medians in seconds."""
    registry, bare = [], []
    for _ in range(3):  # warm both paths (token cache, connections, imports)
        _launch(link, agent)
        _bare_launch(link, token)
    for index in range(repetitions):
        pair = [(registry, lambda: _launch(link, agent)), (bare, lambda: _bare_launch(link, token))]
        if index % 2:
            pair.reverse()
        for samples, call in pair:
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
    return statistics.median(registry), statistics.median(bare)


def _worker(count: int, ready, go) -> None:
    from bench.common import setup_django

    # A spawned process inherits the environment setup_django wrote: the same database.
    workdir = Path(os.environ["ENV_FILE"]).parent
    setup_django(workdir, database_url=os.environ["DATABASE_URL"], migrate=False)
    link, agent = _link_and_agent()
    ready.wait()
    go.wait()
    for _ in range(count):
        _launch(link, agent)


def run(quick: bool = False) -> dict:
    from django.core.cache import cache

    emulator = Emulator(port=free_port())
    try:
        point_demo_accounts_at(emulator.url)
        link, agent = _link_and_agent()
        token = _bare_token(link)

        repetitions = 30 if quick else 300
        registry, bare = _side_by_side(link, agent, token, repetitions)
        results = {
            "launch_registry_ms_p50": round(registry * 1000, 2),
            "launch_bare_ms_p50": round(bare * 1000, 2),
            "launch_overhead_ms_p50": round((registry - bare) * 1000, 2),
        }
        emulator.control("faults", {"latency_ms": 100})
        registry, bare = _side_by_side(link, agent, token, 6 if quick else 60)
        emulator.control("faults", {"latency_ms": 0})
        results.update(
            {
                "launch_registry_ms_p50_100ms": round(registry * 1000, 2),
                "launch_bare_ms_p50_100ms": round(bare * 1000, 2),
                "launch_ratio_100ms": round(registry / bare, 4),
            }
        )

        # Token economy: 4 worker processes, 1,000 launches, one credential, a cold cache.
        total, workers = (200 if quick else 1000), 4
        cache.clear()
        emulator.control("reset", {})
        point_demo_accounts_at(emulator.url)
        context = multiprocessing.get_context("spawn")
        ready, go = context.Barrier(workers + 1), context.Event()
        processes = [
            context.Process(target=_worker, args=(total // workers, ready, go))
            for _ in range(workers)
        ]
        for process in processes:
            process.start()
        ready.wait()
        started = time.perf_counter()
        go.set()
        for process in processes:
            process.join(timeout=600)
        elapsed = time.perf_counter() - started
        if any(process.exitcode != 0 for process in processes):
            raise RuntimeError("a token-economy worker failed")
        stats = emulator.control("stats")
        results.update(
            {
                "token_economy_launches": stats.get("session_creates"),
                "token_requests_per_1000_launches": round(
                    stats["token_requests"] * 1000 / total, 2
                ),
                "token_economy_launches_per_s": round(total / elapsed, 1),
            }
        )
        return results
    finally:
        emulator.stop()
