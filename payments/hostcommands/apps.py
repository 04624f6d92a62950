from django.apps import AppConfig


class HostCommandsConfig(AppConfig):
    name = "payments.hostcommands"
    label = "payments_hostcommands"
    verbose_name = "VCC registry host commands"
