from django.urls import path

from payments import (
    views,
    views_audit,
    views_environments,
    views_launch,
    views_notifications,
    views_promotions,
    views_schedules,
)

app_name = "payments"

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("launch/", views_launch.launch, name="launch"),
    path("sessions/", views_launch.sessions, name="sessions"),
    path("sessions/<int:pk>/", views_launch.session_detail, name="session"),
    path("sessions/<int:pk>/status/", views_launch.session_status, name="session_status"),
    path("promotions/", views_promotions.promotions, name="promotions"),
    path("promotions/new/", views_promotions.promotion_new, name="promotion_new"),
    path("promotions/environments/", views_environments.environments, name="environments"),
    path("promotions/topology/", views_environments.topology, name="topology"),
    path(
        "promotions/topology/<slug:slug>.svg",
        views_environments.topology_svg,
        name="topology_svg",
    ),
    path("promotions/<int:pk>/", views_promotions.promotion_detail, name="promotion"),
    path("promotions/<int:pk>/edit/", views_promotions.promotion_change, name="promotion_edit"),
    path(
        "promotions/<int:pk>/schedule/",
        views_schedules.promotion_schedule_view,
        name="promotion_schedule",
    ),
    path(
        "promotions/<int:pk>/<slug:step>/",
        views_promotions.promotion_step,
        name="promotion_step",
    ),
    path("audit/", views_audit.audit, name="audit"),
    path(
        "notifications/",
        views_notifications.notification_settings,
        name="notification_settings",
    ),
    path("audit/export.<slug:file_format>", views_audit.audit_export, name="audit_export"),
    path("audit/promotions/<int:pk>/", views_audit.audit_promotion, name="audit_promotion"),
]
