"""Settings for VCC Registry: every value comes from the environment (see .env.example)."""

import base64
import binascii
from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Values already in the environment win over the file; ENV_FILE names another file.
environ.Env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")))

KEY_HELP = (
    'Generate one with: python -c "from cryptography.fernet import Fernet; '
    "print(Fernet.generate_key().decode())\" (or run 'make .env' for a local development file)."
)

# --- Core -------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is not set. " + KEY_HELP.replace("Fernet key", "key"))
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # First, so that its audited changepassword and createsuperuser are the ones manage.py runs.
    "payments.hostcommands",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",  # "3 minutes ago", "now" on the link health and evidence pages
    "simple_history",
    "ninja",  # serves the API docs page's Swagger UI files from static, not a CDN
    "django_tasks",
    "django_tasks_db",
    "payments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "payments.middleware.RefuseNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "payments.middleware.FriendlyNotAllowedMiddleware",
]

ROOT_URLCONF = "vccregistry.urls"
WSGI_APPLICATION = "vccregistry.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "payments.navigation.navigation",
                "payments.banners.freeze_banner",
                "payments.auth.account_links",
            ],
        },
    },
]

# --- Database and cache -------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Each request thread keeps its connection for a minute (opening one costs more than a launch's
# queries); set CONN_MAX_AGE=0 behind PgBouncer. A connection that broke is replaced unseen.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web server, emulator, workers) share the file. In WAL mode,
    # synchronous=NORMAL keeps the database consistent and skips an fsync per commit; a power
    # cut may lose the last commits. Production deployments use PostgreSQL.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The default cache lives in the database so every process on the host sees the same
# VCC tokens; point CACHE_URL at Redis when several hosts serve the registry.
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://vcc_registry_cache")}

# --- Auth and sessions --------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "payments:home"
LOGOUT_REDIRECT_URL = "login"

# --- Encryption of stored secrets ----------------------------------------------

FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[])
if not FIELD_ENCRYPTION_KEY:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is not set. " + KEY_HELP)
for _position, _key in enumerate(FIELD_ENCRYPTION_KEY, start=1):
    try:
        Fernet(_key)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEY entry {_position} is not a valid Fernet key "
            f"(32 url-safe base64-encoded bytes). {KEY_HELP}"
        ) from exc

# --- Audit trail keys and digests ------------------------------------------------

AUDIT_KEY_HELP = (
    'Generate one with: python -c "import secrets, base64; '
    'print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())" '
    "(or run 'make .env' for a local development file)."
)
# The audit trail's hashes and digests are keyed with AUDIT_KEY (never stored in the database):
# one key, or a comma-separated list whose first key signs and all verify (rotation).
AUDIT_KEY = env.list("AUDIT_KEY", default=[])
if not AUDIT_KEY:
    raise ImproperlyConfigured("AUDIT_KEY is not set. " + AUDIT_KEY_HELP)
for _position, _key in enumerate(AUDIT_KEY, start=1):
    try:
        _raw = base64.b64decode(_key.encode(), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        _raw = b""
    if len(_raw) != 32:
        raise ImproperlyConfigured(
            f"AUDIT_KEY entry {_position} is not 32 url-safe base64-encoded bytes. {AUDIT_KEY_HELP}"
        )
# Where audit_digest writes its signed digests (ship them off the host: see the README).
AUDIT_DIGEST_DIR = Path(
    env.str("AUDIT_DIGEST_DIR", default="") or BASE_DIR / "var" / "audit-digests"
)

# import_registry reads client secrets only from environment variables matching this pattern
# (fnmatch), so a file cannot send another variable (a key, a password) to VCC as a secret.
REGISTRY_SECRET_ENV_PATTERN = env.str("REGISTRY_SECRET_ENV_PATTERN", default="VCC_*_SECRET")

# --- Internationalisation and static files --------------------------------------

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG or env.bool("TESTING", default=False):
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# --- VCC ----------------------------------------------------------------------

# Where the local VCC emulator listens (the demo and tests set it; make demo does). Only when it
# is set may pages frame the emulator's agent page and post the agent's tokens to it.
VCC_EMULATOR_URL = env.str("VCC_EMULATOR_URL", default="")
# The emulator's world (what VCC has provisioned), written by seed_demo; relative to BASE_DIR.
VCC_EMULATOR_WORLD = BASE_DIR / (
    env.str("VCC_EMULATOR_WORLD", default="") or "var/vcc-emulator-world.json"
)
# Hosts the agent's payment page (the iframeUrl VCC returns) may be served from, per VCC region:
# only there are the agent's access and refresh tokens posted, and only those origins are added
# to the page's frame-src/form-action. VCC documents no such list: the defaults are the region's
# VCC hosts; check where your PCI provider's agent page is and set, for example,
# VCC_AGENT_PAGE_HOSTS="emea=emea.cc.vonage.com,*.pcipal.example;nam=...;*=pay.example.com"
# ("*" applies to every region; "*.domain" matches its subdomains; https only, port 443 unless
# given as host:port). An iframeUrl elsewhere is refused and reported on the session.
_AGENT_PAGE_DEFAULTS = {
    region: [f"{region}.cc.vonage.com", f"{region}.api.newvoicemedia.com"]
    for region in ("emea", "nam", "apac")
}


def _agent_page_hosts(text: str) -> dict[str, list[str]]:
    if not text.strip():
        return _AGENT_PAGE_DEFAULTS
    hosts: dict[str, list[str]] = {}
    for part in text.split(";"):
        region, _, listed = part.partition("=")
        if not region.strip() or not listed.strip():
            raise ImproperlyConfigured(
                f"VCC_AGENT_PAGE_HOSTS: {part!r} is not region=host,host (e.g. emea=a.example)."
            )
        hosts[region.strip()] = [host.strip() for host in listed.split(",") if host.strip()]
    return hosts


VCC_AGENT_PAGE_HOSTS = _agent_page_hosts(env.str("VCC_AGENT_PAGE_HOSTS", default=""))
# Bearer token VCC (or the emulator) presents when it POSTs session status webhooks.
VCC_WEBHOOK_TOKEN = env.str("VCC_WEBHOOK_TOKEN", default="")
# How far in the future a session status's lastUpdatedOn may be (clocks drift); beyond it the
# status is refused, since stored it would make every genuine later status look older.
VCC_STATUS_MAX_CLOCK_SKEW = env.float("VCC_STATUS_MAX_CLOCK_SKEW", default=120.0)
# The VCC client (payments/vcc/client.py): seconds to open a connection and between bytes of an
# answer, and an overall deadline per operation (token, retries and waits included).
VCC_CONNECT_TIMEOUT = env.float("VCC_CONNECT_TIMEOUT", default=3.05)
VCC_READ_TIMEOUT = env.float("VCC_READ_TIMEOUT", default=10.0)
VCC_DEADLINE = env.float("VCC_DEADLINE", default=20.0)
# Cached access tokens are refreshed this many seconds before VCC's expires_in runs out.
VCC_TOKEN_REFRESH_MARGIN = env.float("VCC_TOKEN_REFRESH_MARGIN", default=60.0)
# Retries of reads (token, session status) only; a create is never retried once sent.
VCC_MAX_RETRIES = env.int("VCC_MAX_RETRIES", default=2)
VCC_BACKOFF_BASE = env.float("VCC_BACKOFF_BASE", default=0.25)
VCC_BACKOFF_CAP = env.float("VCC_BACKOFF_CAP", default=2.0)
# The longest Retry-After waited for before retrying; a longer one ends the retries at once.
VCC_RETRY_AFTER_CAP = env.float("VCC_RETRY_AFTER_CAP", default=5.0)
# Seconds a failed token fetch (VCC down, 5xx, 429) is remembered and answered from the shared
# cache, so a brownout is not multiplied by every launch; 0 turns it off.
VCC_TOKEN_FAILURE_CACHE = env.float("VCC_TOKEN_FAILURE_CACHE", default=2.0)
# Seconds a failed status read of a session is remembered: the polling pages and API ask VCC at
# most once per session in that time, however many poll (one read at a time per session).
VCC_STATUS_FAILURE_CACHE = env.float("VCC_STATUS_FAILURE_CACHE", default=5.0)

# --- Background worker, notifications and schedules ------------------------------

# Django's tasks framework (the django-tasks backport) with its database backend: the queue is a
# table in DATABASE_URL, so every web host enqueues and every worker claims with row locks.
TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
    }
}
# How often the worker enqueues each periodic job (seconds); see payments/worker.py.
WORKER_DELIVERY_INTERVAL = env.int("WORKER_DELIVERY_INTERVAL", default=30)
WORKER_SCHEDULE_INTERVAL = env.int("WORKER_SCHEDULE_INTERVAL", default=60)
CREDENTIAL_CHECK_INTERVAL = env.int("CREDENTIAL_CHECK_INTERVAL", default=24 * 60 * 60)
# Link probes (payments/services/probes.py): the worker probes staging links this often; an ok
# probe older than LINK_PROBE_STALE_AFTER shows as stale; VCC_PROBE_AGENT_ID is the test agent.
LINK_PROBE_INTERVAL = env.int("LINK_PROBE_INTERVAL", default=6 * 60 * 60)
# A signed digest of the audit chain's head (besides the one after every promotion apply).
AUDIT_DIGEST_INTERVAL = env.int("AUDIT_DIGEST_INTERVAL", default=60 * 60)
LINK_PROBE_STALE_AFTER = env.int("LINK_PROBE_STALE_AFTER", default=2 * 24 * 60 * 60)
VCC_PROBE_AGENT_ID = env.str("VCC_PROBE_AGENT_ID", default="registry-probe")
# A failed delivery is retried after BASE, 2×BASE, 4×BASE … seconds (at most CAP), then given up.
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=8)
NOTIFICATION_BACKOFF_BASE = env.int("NOTIFICATION_BACKOFF_BASE", default=60)
NOTIFICATION_BACKOFF_CAP = env.int("NOTIFICATION_BACKOFF_CAP", default=6 * 60 * 60)
NOTIFICATION_WEBHOOK_TIMEOUT = env.float("NOTIFICATION_WEBHOOK_TIMEOUT", default=10.0)
# The address messages link to (each message's deep link starts with it).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# E-mail: smtp://user:password@host:587/?tls=True in production; filemail:// writes each message
# as a file under EMAIL_FILE_PATH (the demo); consolemail:// prints it.
_EMAIL = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _EMAIL["EMAIL_BACKEND"]
EMAIL_HOST = _EMAIL["EMAIL_HOST"] or "localhost"
EMAIL_PORT = _EMAIL["EMAIL_PORT"] or 25
EMAIL_HOST_USER = _EMAIL["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = _EMAIL["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = _EMAIL.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _EMAIL.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 10
# filemail:// alone writes under var/mail/ in the checkout; filemail:///some/dir elsewhere.
EMAIL_FILE_PATH = _EMAIL["EMAIL_FILE_PATH"] or str(BASE_DIR / "var" / "mail")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="VCC Registry <registry@localhost>")
# Anonymous "forgot your password" pages (/accounts/password_reset/ and the links it mails): off
# unless a deployment has working e-mail and wants them; while off they answer 404.
PASSWORD_RESET_ENABLED = env.bool("PASSWORD_RESET_ENABLED", default=False)

# --- Logging ------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every handler redacts bearer tokens, client secrets, agent tokens and Fernet tokens.
    "filters": {
        "redact_secrets": {"()": "payments.log_filters.RedactSecretsFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        },
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false", "redact_secrets"],
        },
    },
    # Replaces Django's own handlers for "django", which would not redact.
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO", "propagate": True},
        # django-axes announces its version at every start-up of every command.
        "axes.apps": {"level": "WARNING"},
        # The task worker announces every poll (twice a second when idle) and every task run;
        # registry_worker's own log and the task results in the admin say what ran.
        "django_tasks_db": {"level": env.str("TASKS_LOG_LEVEL", default="WARNING")},
        "django_tasks": {"level": env.str("TASKS_LOG_LEVEL", default="WARNING")},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
# Error pages and e-mails also hide local variables named like secrets.
DEFAULT_EXCEPTION_REPORTER_FILTER = "payments.log_filters.SecretsExceptionReporterFilter"

# --- Demo -----------------------------------------------------------------------

# Password that seed_demo gives new demo users; 'make demo' writes a random one into .env.
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="")

# --- Security: HTTPS, cookies and headers -----------------------------------------

# HTTPS=true in every deployment served over TLS (check --deploy warns without it); local
# development and the demo run on plain http://127.0.0.1.
HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
# Trust X-Forwarded-Proto only when a proxy we run sets it (and strips it from clients):
# otherwise any client could claim to be on HTTPS.
if env.bool("TRUSTED_PROXY_SETS_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- Security: Content-Security-Policy (django-csp) ------------------------------------

# Pages may frame (and POST the agent token form into) the allowed agent page hosts only
# (VCC_AGENT_PAGE_HOSTS), plus the emulator when VCC_EMULATOR_URL is set; or exactly the origins
# listed in CSP_FRAME_SRC. The launch page adds the one origin it posts to, once allowed.
_VCC_FRAME_ORIGINS = env.list("CSP_FRAME_SRC", default=[]) or sorted(
    {f"https://{host}" for hosts in VCC_AGENT_PAGE_HOSTS.values() for host in hosts}
    | ({"/".join(VCC_EMULATOR_URL.split("/")[:3])} if VCC_EMULATOR_URL else set())
)
INSTALLED_APPS += ["csp"]
MIDDLEWARE += ["csp.middleware.CSPMiddleware"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # 'unsafe-hashes' allows only the one style attribute django-simple-history's
        # history page carries ("border-top: 0"), by its hash; no other inline style.
        "style-src": [
            "'self'",
            "'unsafe-hashes'",
            "'sha256-XMXSevYjgSjXgRafBFDvtjwX+yyWLrxfso9DcNZ9UXM='",
        ],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'", *_VCC_FRAME_ORIGINS],
        "form-action": ["'self'", *_VCC_FRAME_ORIGINS],
        "frame-ancestors": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
    }
}

# --- Security: login lockout (django-axes) and idle sessions -------------------------

INSTALLED_APPS += ["axes"]
# AxesMiddleware turns a locked-out login into the lockout page; it must come last.
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = [
    "payments.auth.LockoutBackend",
    "payments.auth.PermissionBackend",
]
# PCI DSS 8.3.4: lock the user out after at most 10 failures for at least 30 minutes.
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes.W006 wants the IP in the lockout key: that guards rotating user agents, which cannot
# get past a lockout keyed on the username alone, and would lock out a whole office behind
# one NAT address after ten typos. Reviewed: the username alone is the PCI DSS 8.3.4 policy.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "payments.auth.lockout_response"
AXES_USERNAME_CALLABLE = "payments.auth.lockout_username"
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "client_secret"]
# PCI DSS 8.2.8: an idle session ends after 15 minutes (each request restarts the clock).
SESSION_COOKIE_AGE = 15 * 60
SESSION_SAVE_EVERY_REQUEST = True
