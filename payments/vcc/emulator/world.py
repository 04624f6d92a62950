"""What the emulated VCC has provisioned: accounts, their API clients and configuration ids.

The world is the emulator's own, as VCC's is Vonage's: it never reads the registry, so the two
can disagree exactly as the registry and VCC can (a link the registry has and the world lacks
gets VCC's "Account configuration does not exists for account: …"). It is a JSON file, edited
by hand or written by `seed_demo` from the demo data:

    {"about": "free text, ignored",
     "accounts": [
       {"name": "Sandbox",
        "credentials": [{"client_id": "sandbox-client-a",
                         "client_secret_sha256": "<64 hex digits>"}],
        "configurations": [{"id": 1, "flow": 695, "flow_name": "Card payment",
                            "stage": "staging", "environment": "PCI Pal staging"}]}]}

A client secret is held only as the hex SHA-256 digest of its UTF-8 text (`printf %s SECRET |
sha256sum`); a `client_secret` in clear is refused. `flow`, `flow_name`, `stage` and
`environment` are what the create answer's `emulator` field reports. Without
`accountConfigurationId` a create uses the account's lowest id.

WorldFile reads the file again when it changes (its size, modification time or inode); an edit
that does not parse leaves the last good world serving, and says why in the log and on the
emulator's index page.
"""

import hashlib
import hmac
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

logger = logging.getLogger("payments.vcc.emulator")

DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Account:
    name: str


@dataclass(frozen=True)
class Configuration:
    configuration_id: int
    flow_number: int
    flow_name: str
    stage: str
    environment: str

    def describe(self) -> dict:
        return {
            "accountConfigurationId": self.configuration_id,
            "flowNumber": self.flow_number,
            "flowName": self.flow_name,
            "stage": self.stage,
            "environment": self.environment,
        }


class World(Protocol):
    def authenticate(self, client_id: str, client_secret: str) -> Account | None: ...

    def configuration(self, account: Account, configuration_id: int) -> Configuration | None: ...

    def default_configuration(self, account: Account) -> Configuration | None: ...

    def summary(self) -> str: ...


def secret_digest(secret: str) -> str:
    """The form a world holds a client secret in: the hex SHA-256 of its UTF-8 text."""
    return hashlib.sha256(secret.encode()).hexdigest()


class StaticWorld:
    """A world from a dict in the file's format (see the module docstring)."""

    def __init__(self, data: dict):
        self._digests: dict[str, tuple[str, Account]] = {}
        self._configurations: dict[str, dict[int, Configuration]] = {}
        try:
            for entry in data["accounts"]:
                account = Account(name=str(entry["name"]))
                for credential in entry.get("credentials", []):
                    self._digests[str(credential["client_id"])] = (
                        _digest_of(credential),
                        account,
                    )
                self._configurations[account.name] = {
                    _whole_number(item["id"]): Configuration(
                        configuration_id=_whole_number(item["id"]),
                        flow_number=_whole_number(item.get("flow", 0)),
                        flow_name=str(item.get("flow_name", "")),
                        stage=str(item.get("stage", "")),
                        environment=str(item.get("environment", "")),
                    )
                    for item in entry.get("configurations", [])
                }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(
                f"The emulator world is not in the expected shape ({exc!r}): see "
                "payments/vcc/emulator/world.py."
            ) from None

    @classmethod
    def from_file(cls, path: str | Path) -> "StaticWorld":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"Cannot read the emulator world {path}: {exc}") from None
        return cls(data)

    def authenticate(self, client_id: str, client_secret: str) -> Account | None:
        stored, account = self._digests.get(client_id, (None, None))
        given = secret_digest(client_secret)
        # Compared even for an unknown client, so the answer takes as long either way.
        same = hmac.compare_digest(stored or "", given)
        return account if stored and client_secret and same else None

    def configuration(self, account: Account, configuration_id: int) -> Configuration | None:
        return self._configurations.get(account.name, {}).get(configuration_id)

    def default_configuration(self, account: Account) -> Configuration | None:
        configurations = self._configurations.get(account.name, {})
        return configurations[min(configurations)] if configurations else None

    def summary(self) -> str:
        return f"static: {self.counts()}"

    def counts(self) -> str:
        links = sum(len(each) for each in self._configurations.values())
        return (
            f"{len(self._configurations)} accounts, {len(self._digests)} API clients, "
            f"{links} configuration ids"
        )


def _digest_of(credential: dict) -> str:
    if "client_secret" in credential:
        raise ValueError(
            f"client {credential.get('client_id')!r} has a client_secret in clear: store its "
            "SHA-256 as client_secret_sha256 instead (printf %s SECRET | sha256sum)"
        )
    digest = str(credential["client_secret_sha256"]).strip().lower()
    if not DIGEST.match(digest):
        raise ValueError(
            f"client_secret_sha256 of {credential.get('client_id')!r} is not 64 hex digits"
        )
    return digest


def _whole_number(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number")
    return value


class WorldFile:
    """A world read from a JSON file, and read again whenever the file changes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._problem = ""
        self._stamp = self._stat()
        # The first read must succeed: an emulator without a world is a mistake, not a state.
        self._world = StaticWorld.from_file(self.path)

    def _stat(self) -> tuple | None:
        try:
            found = os.stat(self.path)
        except OSError:
            return None
        return (found.st_mtime_ns, found.st_size, found.st_ino)

    def current(self) -> StaticWorld:
        """The world as the file now says, or the last good one if the file no longer parses."""
        stamp = self._stat()
        if stamp == self._stamp:
            return self._world
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._world = StaticWorld.from_file(self.path)
                    self._problem = ""
                    logger.info("Emulator world reloaded from %s", self.path)
                except ValueError as exc:
                    self._problem = str(exc)
                    logger.error("%s; still serving the previous world", exc)
        return self._world

    def authenticate(self, client_id: str, client_secret: str) -> Account | None:
        return self.current().authenticate(client_id, client_secret)

    def configuration(self, account: Account, configuration_id: int) -> Configuration | None:
        return self.current().configuration(account, configuration_id)

    def default_configuration(self, account: Account) -> Configuration | None:
        return self.current().default_configuration(account)

    def summary(self) -> str:
        world = self.current()
        text = f"file {self.path}: {world.counts()}"
        if self._problem:
            text += f"; the last edit was not loaded: {self._problem}"
        return text
