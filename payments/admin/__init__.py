from payments.admin import (  # noqa: F401  (registers the ModelAdmins)
    notifications,
    promotions,
    records,
    registry,
    tokens,
    users,
)
