from payments.admin import (  # noqa: F401  (registers the ModelAdmins)
    records,
    registry,
    tokens,
    users,
)
