"""Concurrent launches through the real server (gunicorn on loopback) against 100 ms of VCC."""

import http.client
import json
import os
import resource
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import free_port, start_process
from bench.launch import PAYMENT_DATA, Emulator, point_demo_accounts_at

CLIENTS = 32
LATENCY_S = 0.1


def _start_gunicorn(port: int) -> subprocess.Popen:
    env = os.environ.copy()
    env.update(
        {
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            # 64 request threads for 32 keep-alive clients: the workers do not accept the
            # connections evenly, and with 8 threads each a busier worker queued requests
            # (p95 300 ms against 230 ms, 165 against 195 launches/s); 32 each cost more in
            # GIL hand-offs than they saved.
            "WEB_CONCURRENCY": "4",
            "GUNICORN_THREADS": "16",
            "GUNICORN_ACCESS_LOG": "/dev/null",
            "DEBUG": "false",
            "TESTING": "true",  # no collectstatic manifest needed
        }
    )
    return start_process(
        ["-m", "gunicorn", "vccregistry.wsgi", "-c", "gunicorn.conf.py"],
        env=env,
        ready_url=f"http://127.0.0.1:{port}/accounts/login/",
        what="gunicorn",
    )


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children that are still running."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _client(url: str, token: str, stop_at: float, counts: dict, latencies: list, lock) -> None:
    # The standard library's client on one keep-alive connection: the load generator shares
    # the two cores with the server, so it should spend as little of them as it can.
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    body = json.dumps({"account": "Sandbox", "configurationId": 1, "paymentData": PAYMENT_DATA})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        try:
            connection.request("POST", "/api/v1/sessions", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            key = "ok" if response.status in (200, 201) else f"status_{response.status}"
        except (OSError, http.client.HTTPException) as exc:
            connection.close()  # reconnects on the next request
            key = type(exc).__name__
        elapsed = time.perf_counter() - started
        with lock:
            counts[key] = counts.get(key, 0) + 1
            latencies.append(elapsed)
    connection.close()


def run(quick: bool = False) -> dict:
    from django.contrib.auth.models import User

    from payments.models import PaymentSession
    from payments.services.api_tokens import api_token_issue

    emulator = Emulator(port=free_port())
    server = None
    try:
        point_demo_accounts_at(emulator.url)
        emulator.control("faults", {"latency_ms": int(LATENCY_S * 1000)})
        _, token = api_token_issue(user=User.objects.get(username="agent"), name="bench")
        port = free_port()
        server = _start_gunicorn(port)
        url = f"http://127.0.0.1:{port}"
        # Warm every worker (imports, connections, the token cache) before measuring.
        warm_stop = time.monotonic() + 3
        _run_clients(url, token, warm_stop)
        before = PaymentSession.objects.count()
        last_before = PaymentSession.objects.order_by("-pk").values_list("pk", flat=True).first()
        creates_before = emulator.control("stats")["session_creates"]
        duration = 5 if quick else 20
        cpu_before = _cpu_usage(server.pid, emulator.process.pid)
        started = time.monotonic()
        counts, latencies = _run_clients(url, token, started + duration)
        elapsed = time.monotonic() - started
        cpu = {
            name: after - cpu_before[name]
            for name, after in _cpu_usage(server.pid, emulator.process.pid).items()
        }
        launches = counts.get("ok", 0)
        limit = CLIENTS / LATENCY_S
        return {
            "concurrent_clients": CLIENTS,
            "concurrent_launches": launches,
            "concurrent_errors": sum(v for k, v in counts.items() if k != "ok"),
            "concurrent_latency_ms_p50": _percentile_ms(latencies, 0.5),
            "concurrent_latency_ms_p95": _percentile_ms(latencies, 0.95),
            "concurrent_latency_ms_max": _percentile_ms(latencies, 1.0),
            "concurrent_launches_per_s": round(launches / elapsed, 1),
            "concurrent_limit_per_s": limit,
            "concurrent_launch_efficiency": round(launches / elapsed / limit, 3),
            "concurrent_sessions_recorded": PaymentSession.objects.count() - before,
            # 0 unless something was refused after VCC answered (e.g. the agent page's host).
            "concurrent_sessions_with_error": PaymentSession.objects.filter(pk__gt=last_before or 0)
            .exclude(error="")
            .count(),
            "concurrent_emulator_creates": emulator.control("stats")["session_creates"]
            - creates_before,
            # Where the two cores went, per launch: the registry (all gunicorn processes),
            # the emulator standing in for VCC, and the load generator.
            "concurrent_cpu_ms_per_launch_registry": _per_launch(cpu["registry"], launches),
            "concurrent_cpu_ms_per_launch_emulator": _per_launch(cpu["emulator"], launches),
            "concurrent_cpu_ms_per_launch_clients": _per_launch(cpu["clients"], launches),
            "cpu_cores": os.cpu_count(),
        }
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        emulator.stop()


def _cpu_usage(server_pid: int, emulator_pid: int) -> dict:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "registry": _cpu_seconds(server_pid),
        "emulator": _cpu_seconds(emulator_pid),
        "clients": own.ru_utime + own.ru_stime,
    }


def _percentile_ms(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 1)


def _per_launch(seconds: float, launches: int) -> float:
    return round(seconds * 1000 / launches, 2) if launches else 0.0


def _run_clients(url: str, token: str, stop_at: float) -> dict:
    counts: dict = {}
    latencies: list[float] = []
    lock = threading.Lock()
    threads = [
        threading.Thread(target=_client, args=(url, token, stop_at, counts, latencies, lock))
        for _ in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return counts, sorted(latencies)
