"""Django's own user commands, audited: `changepassword` and `createsuperuser`.

An app of its own, listed first in INSTALLED_APPS, because the first app with a command of a
name is the one Django runs; moving `payments` itself first would also reorder its post_migrate
work before django.contrib.auth has made the permissions it needs. The commands are thin: the
write and the audit rows are payments/services/host.py's.
"""
