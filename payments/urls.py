from django.urls import path

from payments import views
from payments.views import (
    audit,
    environments,
    launch,
    notifications,
    probes,
    promotions,
    schedules,
)

app_name = "payments"

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("launch/", launch.launch, name="launch"),
    path("sessions/", launch.sessions, name="sessions"),
    path("sessions/<int:pk>/", launch.session_detail, name="session"),
    path("sessions/<int:pk>/status/", launch.session_status, name="session_status"),
    path("promotions/", promotions.promotions, name="promotions"),
    path("promotions/new/", promotions.promotion_new, name="promotion_new"),
    path("promotions/environments/", environments.environments, name="environments"),
    path("promotions/topology/", environments.topology, name="topology"),
    path("promotions/topology/<slug:slug>.svg", environments.topology_svg, name="topology_svg"),
    path("promotions/<int:pk>/", promotions.promotion_detail, name="promotion"),
    path("promotions/<int:pk>/edit/", promotions.promotion_change, name="promotion_edit"),
    path(
        "promotions/<int:pk>/schedule/",
        schedules.promotion_schedule_view,
        name="promotion_schedule",
    ),
    path("promotions/<int:pk>/<slug:step>/", promotions.promotion_step, name="promotion_step"),
    path("links/health/", probes.link_health, name="link_health"),
    path("links/health/probe/", probes.link_health_probe, name="link_health_probe"),
    path("audit/", audit.audit, name="audit"),
    path("notifications/", notifications.notification_settings, name="notification_settings"),
    path("audit/export.<slug:file_format>", audit.audit_export, name="audit_export"),
    path("audit/promotions/<int:pk>/", audit.audit_promotion, name="audit_promotion"),
]
