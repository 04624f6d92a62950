from payments.admin import records, registry  # noqa: F401  (registers the ModelAdmins)
