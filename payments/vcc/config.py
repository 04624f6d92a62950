"""Timeouts, retry budget and token refresh margin of the VCC client."""

from dataclasses import dataclass, fields

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class VccClientConfig:
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    deadline: float = 20.0
    token_refresh_margin: float = 60.0
    max_retries: int = 2
    backoff_base: float = 0.25
    backoff_cap: float = 2.0
    retry_after_cap: float = 5.0
    # Seconds a failed token fetch (VCC down or rate limiting) is remembered in the shared cache
    # and given to every caller instead of asking again: a brownout is not made worse. 0: off.
    token_failure_cache: float = 2.0

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            if value < 0 or (value == 0 and field.name.endswith(("timeout", "deadline"))):
                raise ImproperlyConfigured(
                    f"VCC client setting {field.name} must be positive, not {value!r}: "
                    f"check VCC_{field.name.upper()} in the environment."
                )

    @classmethod
    def from_settings(cls) -> "VccClientConfig":
        """Read the VCC_* settings (see the VCC section of settings and .env.example)."""
        defaults = cls()
        values = {
            field.name: getattr(
                settings, f"VCC_{field.name.upper()}", getattr(defaults, field.name)
            )
            for field in fields(cls)
        }
        return cls(**values)
