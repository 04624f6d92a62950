from django.urls import path

from payments import views, views_launch

app_name = "payments"

urlpatterns = [
    path("", views.home, name="home"),
    path("launch/", views_launch.launch, name="launch"),
    path("sessions/", views_launch.sessions, name="sessions"),
    path("sessions/<int:pk>/", views_launch.session_detail, name="session"),
    path("sessions/<int:pk>/status/", views_launch.session_status, name="session_status"),
]
