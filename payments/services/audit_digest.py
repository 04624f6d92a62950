"""Signed digests of the audit chain, written outside the database to prove its completeness."""

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from payments.audit_keys import UnknownAuditKey, keyed_hash, signing_key_id
from payments.models import AuditChainHead, AuditEvent
from payments.services.audit import GENESIS_HASH, ChainWalk, audit_walk_chain

DIGEST_PURPOSE = b"vccregistry.audit-digest"
DIGEST_FIELDS = ("version", "last_event_id", "head_hash", "event_count", "created_at", "key_id")
DIGEST_GLOB = "audit-digest-*.json"


class DigestRefused(Exception):
    """The chain head is not where the newest event is: no digest may bless that state."""


def _signature(fields: dict) -> str:
    payload = json.dumps({name: fields[name] for name in DIGEST_FIELDS}, sort_keys=True)
    return keyed_hash(fields["key_id"], DIGEST_PURPOSE, payload.encode())


def audit_digest_write(*, directory: Path | None = None) -> Path:
    """Sign the chain head as it stands and write it as a new JSON file; return its path."""
    directory = Path(directory or settings.AUDIT_DIGEST_DIR)
    with transaction.atomic():
        # The lock holds appends back while the head and the count are read together.
        head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
        last_hash = head.last_hash if head else GENESIS_HASH
        last_event_id = head.last_event_id if head else 0
        newest = AuditEvent.objects.order_by("-id").values("id", "row_hash").first()
        if (newest or {"id": 0, "row_hash": GENESIS_HASH}) != {
            "id": last_event_id,
            "row_hash": last_hash,
        }:
            raise DigestRefused(
                "the audit chain head does not name the newest event: run verify_audit_log"
            )
        count = AuditEvent.objects.filter(id__lte=last_event_id).count()
    now = timezone.now()
    fields = {
        "version": 1,
        "last_event_id": last_event_id,
        "head_hash": last_hash,
        "event_count": count,
        "created_at": now.isoformat(),
        "key_id": signing_key_id(),
    }
    fields["signature"] = _signature(fields)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"audit-digest-{now:%Y%m%dT%H%M%S%fZ}-{last_event_id}.json"
    # Written whole under a temporary name, then linked: a reader never sees half a digest and
    # an existing digest is never overwritten (link fails if the name exists).
    with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".tmp", delete=False) as handle:
        json.dump(fields, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(handle.name, path)
    finally:
        os.unlink(handle.name)
    return path


@dataclass
class DigestCheck:
    digests: int
    problems: list[str]


def _read_digest(path: Path) -> tuple[dict | None, str]:
    try:
        fields = json.loads(path.read_text())
        if not isinstance(fields, dict) or fields.get("version") != 1:
            return None, "is not a version 1 audit digest"
        last_event_id = int(fields["last_event_id"])
        int(fields["event_count"])
        signature = str(fields["signature"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"cannot be read ({type(exc).__name__})"
    try:
        if _signature(fields) != signature:
            return None, "has a signature that does not verify (forged or altered)"
    except UnknownAuditKey:
        return None, f"is signed with AUDIT_KEY id {fields['key_id']}, which is not configured"
    except KeyError as exc:
        return None, f"lacks the field {exc}"
    fields["last_event_id"] = last_event_id
    return fields, ""


def audit_verify_digests(*, directory: Path | None = None) -> tuple[DigestCheck, ChainWalk]:
    """Check the chain against every digest in a directory; return the findings and the walk."""
    directory = Path(directory or settings.AUDIT_DIGEST_DIR)
    paths = sorted(directory.glob(DIGEST_GLOB)) if directory.is_dir() else []
    problems = []
    digests = []
    for path in paths:
        fields, problem = _read_digest(path)
        if problem:
            problems.append(f"digest {path.name} {problem}")
        else:
            digests.append((path, fields))
    walk = audit_walk_chain(checkpoints=frozenset(f["last_event_id"] for _, f in digests))
    for path, fields in digests:
        problems += _digest_problems(path.name, fields, walk)
    return DigestCheck(digests=len(paths), problems=problems), walk


def _digest_problems(name: str, fields: dict, walk: ChainWalk) -> list[str]:
    event_id, count = fields["last_event_id"], fields["event_count"]
    signed = f"digest {name} ({fields['created_at']}) signed event #{event_id} as the head"
    if event_id == 0:
        return [] if count == 0 else [f"digest {name} is inconsistent: no head but {count} events"]
    if event_id not in walk.checkpoints:
        return [
            f"{signed} after {count} events; event #{event_id} is missing from the database "
            "(rows were deleted and the chain head set back)"
        ]
    row_hash, count_here = walk.checkpoints[event_id]
    problems = []
    if row_hash != fields["head_hash"]:
        problems.append(
            f"{signed}, but event #{event_id} now has another hash (the chain was rewritten)"
        )
    if count_here != count:
        problems.append(
            f"{signed} after {count} events; the database holds {count_here} events up to it "
            f"({abs(count - count_here)} {'deleted' if count_here < count else 'inserted'})"
        )
    return problems
