"""The groups people are put in, with exactly the permissions their work needs."""

from django.apps import apps as global_apps

REGISTRY_MODELS = [
    "vccaccount",
    "apicredential",
    "pcienvironment",
    "paymentflow",
    "accountconfiguration",
]

ROLES = {
    "Registry admins": [
        f"{verb}_{model}" for model in REGISTRY_MODELS for verb in ("add", "change", "view")
    ]
    + [
        "add_promotion",
        "change_promotion",
        "view_promotion",
        "add_paymentsession",
        "view_paymentsession",
        "view_all_sessions",
        "add_agentprofile",
        "change_agentprofile",
        "view_agentprofile",
        # Change freezes, outgoing webhooks and the notification outbox (payments/worker.py).
        "add_changefreeze",
        "change_changefreeze",
        "view_changefreeze",
        "add_webhookendpoint",
        "change_webhookendpoint",
        "view_webhookendpoint",
        "view_notification",
        "view_delivery",
        "change_delivery",
        # Link probes (payments/services/probes.py): staging links; production needs more.
        "view_linkprobe",
        "probe_links",
    ],
    "Approvers": [f"view_{model}" for model in REGISTRY_MODELS]
    + ["view_promotion", "approve_promotion", "apply_promotion", "view_linkprobe"],
    "Agents": ["add_paymentsession", "view_paymentsession"],
    "Production launchers": [
        "add_paymentsession",
        "view_paymentsession",
        "launch_production",
        "probe_production",
    ],
    "Auditors": [f"view_{model}" for model in REGISTRY_MODELS]
    + [
        "view_promotion",
        "view_paymentsession",
        "view_all_sessions",
        "view_auditevent",
        "view_linkprobe",
    ],
}


def roles_ensure(apps=global_apps) -> None:
    """Create the role groups and set their permissions (after migrate and after a flush)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    # A migration runs this with the models of its time: permissions of models added by later
    # migrations are left for the run after the last migration (post_migrate).
    declared = _declared_permissions(apps)
    unknown = {codename for names in ROLES.values() for codename in names}
    unknown -= _declared_permissions(global_apps)
    if unknown:
        raise RuntimeError(f"No model declares the permissions {sorted(unknown)}")
    for name, codenames in ROLES.items():
        codenames = [codename for codename in codenames if codename in declared]
        group, _ = Group.objects.get_or_create(name=name)
        permissions = Permission.objects.filter(
            content_type__app_label="payments", codename__in=codenames
        )
        missing = set(codenames) - set(permissions.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"Unknown permissions for {name}: {sorted(missing)}")
        group.permissions.set(permissions)


def _declared_permissions(apps) -> set[str]:
    declared = set()
    for model in apps.get_app_config("payments").get_models():
        opts = model._meta
        declared |= {f"{verb}_{opts.model_name}" for verb in opts.default_permissions}
        declared |= {codename for codename, _ in opts.permissions}
    return declared
