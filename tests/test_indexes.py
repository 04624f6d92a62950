"""LD4 (docs/TEST_PLAN.md): no index is a prefix of another; it costs every INSERT, helps no read.

docs/PERFORMANCE.md: a launch's INSERT into payments_paymentsession maintained an index on the
launcher that the unique (launcher, idempotency key) index already provides; flows, links,
credentials and change-set rows had the same pair.
"""

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db


def _indexes(model) -> dict[str, dict]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    # A partial index (a conditional unique constraint) serves only the rows it covers.
    partial = {c.name for c in model._meta.constraints if getattr(c, "condition", None)}
    return {
        name: info
        for name, info in constraints.items()
        if (info["index"] or info["unique"])
        and info["columns"]
        and not info["primary_key"]
        and name not in partial
        # PostgreSQL's second index for LIKE on a unique text column is not a duplicate.
        and not name.endswith("_like")
    }


def test_no_plain_index_is_a_prefix_of_another():
    redundant = []
    for model in apps.get_app_config("payments").get_models():
        indexes = _indexes(model)
        for name, info in indexes.items():
            columns = tuple(info["columns"])
            if info["unique"]:
                continue  # a constraint, not only an index
            for other, wider in indexes.items():
                wider = tuple(wider["columns"])
                if other != name and len(wider) > len(columns) and wider[: len(columns)] == columns:
                    redundant.append(f"{model._meta.db_table}.{name} {columns} <= {other}")
    assert redundant == [], "\n".join(redundant)


@pytest.mark.parametrize(
    "table, column",
    [
        ("payments_paymentsession", "launched_by_id"),
        ("payments_paymentflow", "environment_id"),
        ("payments_accountconfiguration", "account_id"),
        ("payments_apicredential", "account_id"),
        ("payments_promotionchange", "promotion_id"),
        ("payments_promotion", "source_flow_id"),
    ],
)
def test_every_foreign_key_lookup_still_has_an_index(table, column):
    model = next(
        m for m in apps.get_app_config("payments").get_models() if m._meta.db_table == table
    )
    assert any(info["columns"][0] == column for info in _indexes(model).values())
