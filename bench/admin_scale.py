"""Admin scale: changelists, a promotion's apply, and export/import of the registry, at one page
(100 rows) and at 10,000 rows, side by side."""

import contextlib
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
    account = VccAccount.objects.filter(name="Scale").first()
    if account is None:
        account = VccAccount(name="Scale", kind=AccountKind.SANDBOX, region="emea")
        account.full_clean()  # fills in the region's base URLs, as the admin does
        account.save()
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


@contextlib.contextmanager
def _counting_queries():
    """Count every query (the debug query log keeps only the last 9,000)."""
    counted = {"queries": 0}

    def count(execute, sql, params, many, context):
        counted["queries"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield counted


def _promotion_apply(rows: int) -> tuple[int, float]:
    """Queries and seconds of applying one approved promotion."""
    from payments.models import PaymentFlow, PciEnvironment, VccAccount
    from payments.services.promotions import (
        promotion_apply,
        promotion_approve,
        promotion_request,
    )

    flow = PaymentFlow.objects.create(
        environment=PciEnvironment.objects.get(name="PCI Pal staging"),
        number=900_000 + rows,
        name=f"Bench promotion at {rows} rows",
    )
    approver = User.objects.get(username="approver")
    promotion = promotion_request(
        source_flow=flow,
        target_account=VccAccount.objects.get(name="Production"),
        production_flow_number=900_000 + rows,
        configuration_id=900_000 + rows,
        reason="benchmark",
        actor=User.objects.get(username="registry"),
    )
    promotion = promotion_approve(promotion=promotion, actor=approver)
    start = time.perf_counter()
    with _counting_queries() as counted:
        promotion_apply(promotion=promotion, actor=approver)
    return counted["queries"], time.perf_counter() - start


def _export_import() -> dict:
    """Export the registry, then import the same document back (nothing to change)."""
    from payments.models import AccountConfiguration
    from payments.selectors.registry_export import registry_export
    from payments.services.registry_io import registry_import

    admin = User.objects.get(username="admin")
    start = time.perf_counter()
    with _counting_queries() as exported:
        document = registry_export()
    export_s = time.perf_counter() - start
    start = time.perf_counter()
    with _counting_queries() as imported:
        result = registry_import(document=document, actor=admin, environ={}, source="bench")
    import_s = time.perf_counter() - start
    assert not result.changes, result.changes[:3]
    return {
        "links": AccountConfiguration.objects.count(),
        "export_queries": exported["queries"],
        "export_s": export_s,
        "import_queries": imported["queries"],
        "import_s": import_s,
    }


def _registry_figures(small: dict, big: dict, large: int) -> dict:
    results = {}
    for name in ("export", "import"):
        results[f"{name}_queries_100"] = small[f"{name}_queries"]
        results[f"{name}_queries_{large}"] = big[f"{name}_queries"]
        results[f"{name}_s_{large}"] = round(big[f"{name}_s"], 3)
        # Seconds per link at each size: 1.0 means the cost grows with the links and no faster.
        per_link_small = small[f"{name}_s"] / small["links"]
        per_link_big = big[f"{name}_s"] / big["links"]
        results[f"{name}_time_per_link_ratio_{large}_vs_100"] = round(
            per_link_big / per_link_small, 3
        )
    results[f"export_import_links_{large}"] = big["links"]
    return results


def run(quick: bool = False) -> dict:
    client = Client(HTTP_HOST="localhost")
    client.force_login(User.objects.get(username="admin"))
    repetitions = 5 if quick else 15
    large = 2_000 if quick else 10_000
    results = {}
    _fill(100)
    small = {name: _measure(client, url, repetitions) for name, url in CHANGELISTS.items()}
    small_apply = _promotion_apply(100)
    small_io = _export_import()
    _fill(large)
    big = {name: _measure(client, url, repetitions) for name, url in CHANGELISTS.items()}
    big_apply = _promotion_apply(large)
    big_io = _export_import()
    results["promotion_apply_queries_100"] = small_apply[0]
    results[f"promotion_apply_queries_{large}"] = big_apply[0]
    results[f"promotion_apply_time_ratio_{large}_vs_100"] = round(big_apply[1] / small_apply[1], 3)
    results.update(_registry_figures(small_io, big_io, large))
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
