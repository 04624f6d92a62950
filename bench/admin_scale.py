"""Admin scale: changelists at one page (100 rows) and at 10,000 rows, side by side."""

import time

from django.contrib.auth.models import User
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

CHANGELISTS = {
    "links": "admin:payments_accountconfiguration_changelist",
    "flows": "admin:payments_paymentflow_changelist",
    "sessions": "admin:payments_paymentsession_changelist",
    "audit": "admin:payments_auditevent_changelist",
}


def _fill(total: int) -> None:
    """Grow links, flows, sessions and audit events to `total` rows each (bulk, no audit)."""
    from payments.models import (
        AccountConfiguration,
        AccountKind,
        AuditEvent,
        PaymentFlow,
        PaymentSession,
        PciEnvironment,
        VccAccount,
    )

    environment = PciEnvironment.objects.get(name="PCI Pal staging")
    account, _ = VccAccount.objects.get_or_create(
        name="Scale", defaults={"kind": AccountKind.SANDBOX, "region": "emea"}
    )
    flows = PaymentFlow.objects.count()
    PaymentFlow.objects.bulk_create(
        PaymentFlow(environment=environment, number=10_000 + flows + n, name=f"Flow {n}")
        for n in range(max(0, total - flows))
    )
    flow_ids = list(
        PaymentFlow.objects.filter(environment=environment).values_list("id", flat=True)
    )
    links = AccountConfiguration.objects.count()
    AccountConfiguration.objects.bulk_create(
        AccountConfiguration(
            account=account, configuration_id=100 + links + n, flow_id=flow_ids[n % len(flow_ids)]
        )
        for n in range(max(0, total - links))
    )
    user = User.objects.get(username="admin")
    sessions = PaymentSession.objects.count()
    PaymentSession.objects.bulk_create(
        PaymentSession(
            launched_by=user,
            kind="agent_assist",
            account=account,
            account_name=account.name,
            credential_label="A",
            configuration_id=1,
            flow_number=695,
            flow_name="Card payment",
            stage="staging",
            environment_name="PCI Pal staging",
            outcome="created",
            session_guid=f"bench-{n}",
        )
        for n in range(sessions, total)
    )
    from payments.services.audit import audit_record

    for n in range(AuditEvent.objects.count(), total):
        audit_record(action="bench.event", actor=user, object_type="bench", object_id=str(n))


def _measure(client: Client, url_name: str, repetitions: int) -> tuple[int, float]:
    url = reverse(url_name)
    reset_queries()  # each request resets the log; start from empty so the count is right
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    query_count = len(queries)  # read now: the next request clears the log it slices
    samples = []
    for _ in range(repetitions):
        start = time.perf_counter()
        client.get(url)
        samples.append(time.perf_counter() - start)
    samples.sort()
    return query_count, samples[len(samples) // 2]


def run(quick: bool = False) -> dict:
    client = Client(HTTP_HOST="localhost")
    client.force_login(User.objects.get(username="admin"))
    repetitions = 5 if quick else 15
    large = 2_000 if quick else 10_000
    results = {}
    _fill(100)
    small = {name: _measure(client, url, repetitions) for name, url in CHANGELISTS.items()}
    _fill(large)
    big = {name: _measure(client, url, repetitions) for name, url in CHANGELISTS.items()}
    for name in CHANGELISTS:
        results[f"{name}_queries_100"] = small[name][0]
        results[f"{name}_queries_{large}"] = big[name][0]
        results[f"{name}_time_ratio_{large}_vs_100"] = round(big[name][1] / small[name][1], 3)
        results[f"{name}_render_ms_100"] = round(small[name][1] * 1000, 1)
        results[f"{name}_render_ms_{large}"] = round(big[name][1] * 1000, 1)
    results["changelist_queries_100"] = small["links"][0]
    results["changelist_queries_10000"] = big["links"][0]
    results["changelist_time_ratio_10000_vs_100"] = results[f"links_time_ratio_{large}_vs_100"]
    results["admin_scale_rows"] = large
    return results
