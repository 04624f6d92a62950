"""The latest probe of each configuration link: did VCC start a session on it, and when."""

from datetime import timedelta

from django.conf import settings
from django.db import models

# How a link looks by its last probe (the Link health matrix and the topology use the same).
HEALTH_OK = "ok"
HEALTH_FAILED = "failed"
HEALTH_STALE = "stale"
HEALTH_NEVER = "never"


class LinkProbe(models.Model):
    """The last probe of a link; never the agent tokens VCC answered with."""

    link = models.OneToOneField(
        "payments.AccountConfiguration", on_delete=models.CASCADE, related_name="probe"
    )
    probed_at = models.DateTimeField()
    ok = models.BooleanField()
    message = models.CharField(
        max_length=500, help_text="VCC's answer, as the VCC client words it."
    )
    advice = models.CharField(max_length=500, blank=True, help_text="What to do about it.")
    session_guid = models.CharField("sessionGuid", max_length=64, blank=True)
    credential_label = models.CharField(max_length=40, blank=True)
    agent_id = models.CharField("agentId", max_length=100, blank=True)
    last_ok_at = models.DateTimeField(null=True, blank=True)
    probed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["link__account__name", "link__configuration_id"]
        verbose_name = "link probe"
        default_permissions = ("view",)
        permissions = [
            ("probe_links", "Can probe staging configuration links with VCC"),
            ("probe_production", "Can probe production configuration links with VCC"),
        ]

    def __str__(self):
        return f"{'ok' if self.ok else 'failed'} at {self.probed_at:%Y-%m-%d %H:%M}"

    def health(self, now) -> str:
        """ok, failed or stale (an ok probe older than LINK_PROBE_STALE_AFTER seconds)."""
        if not self.ok:
            return HEALTH_FAILED
        if now - self.probed_at > timedelta(seconds=settings.LINK_PROBE_STALE_AFTER):
            return HEALTH_STALE
        return HEALTH_OK


def link_health(link, now) -> str:
    """The health of a link by its last probe (never: not probed yet)."""
    try:
        probe = link.probe
    except LinkProbe.DoesNotExist:
        return HEALTH_NEVER
    return probe.health(now)
