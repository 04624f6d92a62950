"""A local VCC for tests and demos: a real HTTP server speaking the documented contract.

server = EmulatorServer(world=WorldFile("var/vcc-emulator-world.json"), port=0).start()
server.faults.inject("create", status=503, times=1)
... server.stats.session_creates ...
server.stop()
"""

from payments.vcc.emulator.core import EmulatedSession, EmulatedVcc
from payments.vcc.emulator.faults import FaultRule, Faults, Stats
from payments.vcc.emulator.server import EmulatorServer
from payments.vcc.emulator.world import (
    Account,
    Configuration,
    StaticWorld,
    World,
    WorldFile,
    secret_digest,
)

__all__ = [
    "Account",
    "Configuration",
    "EmulatedSession",
    "EmulatedVcc",
    "EmulatorServer",
    "FaultRule",
    "Faults",
    "StaticWorld",
    "Stats",
    "World",
    "WorldFile",
    "secret_digest",
]
