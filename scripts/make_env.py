"""Write a local .env with fresh keys for development and the demo (never committed)."""

import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

path = Path(sys.argv[1] if len(sys.argv) > 1 else ".env")
if path.exists():
    sys.exit(0)
path.write_text(
    "# Generated for local development and the demo. Never commit this file.\n"
    f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
    f"FIELD_ENCRYPTION_KEY={Fernet.generate_key().decode()}\n"
    f"DEMO_PASSWORD={secrets.token_urlsafe(9)}\n"
    f"VCC_WEBHOOK_TOKEN={secrets.token_urlsafe(32)}\n"
    "# DEBUG=true shows Django's debug pages while developing; the demo always runs with it off.\n"
    "DEBUG=false\n"
)
print(f"Wrote {path} with fresh keys.")
