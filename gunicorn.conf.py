"""Gunicorn settings for production: `gunicorn vccregistry.wsgi -c gunicorn.conf.py`.

Every value can be overridden from the environment (see README, "Deploying").
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND") or "127.0.0.1:8000"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
# Threads let a worker keep serving while one request waits on VCC (up to VCC_DEADLINE).
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 4)
# Longer than the VCC client's overall deadline (20 s), so a slow VCC is answered, not killed.
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 30)
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, staggered, so no leak grows for ever.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS") or 2000)
max_requests_jitter = max_requests // 10

# Request size limits in front of Django's own.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# The access log names the path without its query string and never the headers.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

# Trust X-Forwarded-* only from the proxy in front (same switch as the Django setting).
if os.environ.get("TRUSTED_PROXY_SETS_X_FORWARDED_PROTO", "").lower() in ("1", "true", "yes"):
    forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
else:
    forwarded_allow_ips = ""
