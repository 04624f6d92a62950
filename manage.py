#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vccregistry.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # A missing or malformed setting: its message says which and how to fix it (settings.py).
        if "--traceback" in sys.argv:
            raise
        sys.exit(f"Configuration error: {error}")


if __name__ == "__main__":
    main()
