from django.db import models

from payments.vcc.regions import REGION_BASE_URLS  # noqa: F401  (re-exported)


class Region(models.TextChoices):
    EMEA = "emea", "EMEA"
    NAM = "nam", "NAM (USA)"
    APAC = "apac", "APAC"


class AccountKind(models.TextChoices):
    SANDBOX = "sandbox", "Sandbox"
    PRODUCTION = "production", "Production"
    COMBINED = "combined", "Combined (staging and production)"


class Stage(models.TextChoices):
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class AllowedEnvironments(models.TextChoices):
    STAGING = "staging", "Staging only"
    PRODUCTION = "production", "Production only"
    BOTH = "both", "Staging and production"


# Which flow stages an account of each kind may link to (invariant 1).
STAGES_FOR_KIND = {
    AccountKind.SANDBOX: {Stage.STAGING},
    AccountKind.PRODUCTION: {Stage.PRODUCTION},
    AccountKind.COMBINED: {Stage.STAGING, Stage.PRODUCTION},
}

# Which flow stages a credential may launch (invariant 2).
STAGES_FOR_ALLOWED = {
    AllowedEnvironments.STAGING: {Stage.STAGING},
    AllowedEnvironments.PRODUCTION: {Stage.PRODUCTION},
    AllowedEnvironments.BOTH: {Stage.STAGING, Stage.PRODUCTION},
}

# A credential's default permission follows its account's kind (the least that fits: a combined
# account's credentials start on staging, production is granted deliberately).
DEFAULT_ALLOWED_FOR_KIND = {
    AccountKind.SANDBOX: AllowedEnvironments.STAGING,
    AccountKind.PRODUCTION: AllowedEnvironments.PRODUCTION,
    AccountKind.COMBINED: AllowedEnvironments.STAGING,
}


def allowed_fits_kind(allowed: str, kind: str) -> bool:
    """Whether a credential allowed on `allowed` may belong to an account of `kind` (item 8)."""
    return STAGES_FOR_ALLOWED.get(allowed, set()) <= STAGES_FOR_KIND.get(kind, set())
