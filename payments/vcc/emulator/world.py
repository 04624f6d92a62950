"""What the emulated VCC knows: API clients, the account each belongs to, and its configurations.

RegistryWorld reads the registry's own tables, so the demo accounts, credentials and links are
VCC's accounts, API clients and account configurations. StaticWorld reads a dict or JSON file.
Registry-only flags (an account or link switched off, a credential disabled) are not VCC's
business: VCC still knows those clients and ids, so the emulator answers for them too.
"""

import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from payments.crypto import SecretDecryptionError


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


def _same_secret(stored: str | None, given: str) -> bool:
    return bool(stored) and hmac.compare_digest(stored.encode(), given.encode())


class RegistryWorld:
    """The registry database as VCC's view of accounts, API clients and configurations."""

    def authenticate(self, client_id: str, client_secret: str) -> Account | None:
        from payments.models import ApiCredential

        try:
            credential = (
                ApiCredential.objects.select_related("account").filter(client_id=client_id).first()
            )
        except SecretDecryptionError:
            return None
        if credential is None or not _same_secret(credential.client_secret, client_secret):
            return None
        return Account(name=credential.account.name)

    def configuration(self, account: Account, configuration_id: int) -> Configuration | None:
        return _configuration(self._links(account).filter(configuration_id=configuration_id))

    def default_configuration(self, account: Account) -> Configuration | None:
        return _configuration(self._links(account).order_by("configuration_id"))

    def summary(self) -> str:
        from payments.models import ApiCredential, VccAccount

        return (
            f"registry database: {VccAccount.objects.count()} accounts, "
            f"{ApiCredential.objects.count()} API clients"
        )

    @staticmethod
    def _links(account: Account):
        from payments.models import AccountConfiguration

        return AccountConfiguration.objects.select_related("flow__environment").filter(
            account__name=account.name
        )


def _configuration(links) -> Configuration | None:
    link = links.first()
    if link is None:
        return None
    return Configuration(
        configuration_id=link.configuration_id,
        flow_number=link.flow.number,
        flow_name=link.flow.name,
        stage=link.flow.environment.stage,
        environment=link.flow.environment.name,
    )


class StaticWorld:
    """A world from a dict or JSON file.

    {"accounts": [{"name": "Sandbox",
                   "credentials": [{"client_id": "...", "client_secret": "..."}],
                   "configurations": [{"id": 1, "flow": 695, "flow_name": "Card payment",
                                       "stage": "staging", "environment": "PCI Pal staging"}]}]}
    """

    def __init__(self, data: dict):
        self._secrets: dict[str, tuple[str, Account]] = {}
        self._configurations: dict[str, dict[int, Configuration]] = {}
        try:
            for entry in data["accounts"]:
                account = Account(name=str(entry["name"]))
                for credential in entry.get("credentials", []):
                    self._secrets[str(credential["client_id"])] = (
                        str(credential["client_secret"]),
                        account,
                    )
                self._configurations[account.name] = {
                    int(item["id"]): Configuration(
                        configuration_id=int(item["id"]),
                        flow_number=int(item.get("flow", 0)),
                        flow_name=str(item.get("flow_name", "")),
                        stage=str(item.get("stage", "")),
                        environment=str(item.get("environment", "")),
                    )
                    for item in entry.get("configurations", [])
                }
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"The emulator world is not in the expected shape ({exc!r}): see StaticWorld."
            ) from None

    @classmethod
    def from_file(cls, path: str | Path) -> "StaticWorld":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"Cannot read the emulator world {path}: {exc}") from None
        return cls(data)

    def authenticate(self, client_id: str, client_secret: str) -> Account | None:
        stored, account = self._secrets.get(client_id, (None, None))
        return account if _same_secret(stored, client_secret) else None

    def configuration(self, account: Account, configuration_id: int) -> Configuration | None:
        return self._configurations.get(account.name, {}).get(configuration_id)

    def default_configuration(self, account: Account) -> Configuration | None:
        configurations = self._configurations.get(account.name, {})
        return configurations[min(configurations)] if configurations else None

    def summary(self) -> str:
        return f"static: {len(self._configurations)} accounts, {len(self._secrets)} API clients"
