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

from django.db import connection

from payments.crypto import SecretDecryptionError

# An account's links with their flows, in the order of Configuration's fields. Every session
# create looks one up: built with the ORM, the query cost more CPU than the rest of the request.
LINKS_SQL = """
    SELECT link.configuration_id, flow.number, flow.name, environment.stage, environment.name
    FROM payments_accountconfiguration link
    JOIN payments_vccaccount account ON account.id = link.account_id
    JOIN payments_paymentflow flow ON flow.id = link.flow_id
    JOIN payments_pcienvironment environment ON environment.id = flow.environment_id
    WHERE account.name = %s
"""
# SQLite cannot compare a column with an integer beyond 64 bits; the ORM answered "no such link"
# for those ids, and so does the emulator.
MAX_CONFIGURATION_ID = 2**63 - 1


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
        if not 0 <= configuration_id <= MAX_CONFIGURATION_ID:
            return None
        sql = LINKS_SQL + "AND link.configuration_id = %s"
        return _configuration(sql, [account.name, configuration_id])

    def default_configuration(self, account: Account) -> Configuration | None:
        sql = LINKS_SQL + "ORDER BY link.configuration_id LIMIT 1"
        return _configuration(sql, [account.name])

    def summary(self) -> str:
        from payments.models import ApiCredential, VccAccount

        return (
            f"registry database: {VccAccount.objects.count()} accounts, "
            f"{ApiCredential.objects.count()} API clients"
        )


def _configuration(sql: str, params: list) -> Configuration | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else Configuration(*row)


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
