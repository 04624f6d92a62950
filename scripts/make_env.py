"""Write a local .env with fresh keys for development and the demo (never committed).

Run again on an existing .env, it adds only the variables a newer version needs (e.g.
AUDIT_KEY) and never changes a value that is there.
"""

import base64
import re
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

path = Path(sys.argv[1] if len(sys.argv) > 1 else ".env")
fresh = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(50),
    "FIELD_ENCRYPTION_KEY": lambda: Fernet.generate_key().decode(),
    "AUDIT_KEY": lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "DEMO_PASSWORD": lambda: secrets.token_urlsafe(9),
    "VCC_WEBHOOK_TOKEN": lambda: secrets.token_urlsafe(32),
    # DEBUG=true shows Django's debug pages while developing; the demo always runs with it off.
    "DEBUG": lambda: "false",
}
existing = path.read_text() if path.exists() else ""
present = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", existing, flags=re.MULTILINE))
missing = [name for name in fresh if name not in present]
if not missing:
    sys.exit(0)
lines = (
    [] if existing else ["# Generated for local development and the demo. Never commit this file."]
)
lines += [f"{name}={fresh[name]()}" for name in missing]
prefix = existing if not existing or existing.endswith("\n") else existing + "\n"
path.write_text(prefix + "\n".join(lines) + "\n")
print(f"{'Added ' + ', '.join(missing) + ' to' if existing else 'Wrote'} {path} with fresh keys.")
