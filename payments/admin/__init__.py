from payments.admin import (  # noqa: F401  (registers the ModelAdmins)
    promotions,
    records,
    registry,
    tokens,
    users,
)
