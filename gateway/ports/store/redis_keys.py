"""Where the Redis state store keeps what: every key name, in one place.

Every key starts with `phasegate:`. The part in braces is the Redis Cluster hash tag:
keys with the same tag are in the same slot, so one Lua script may change them all at
once (and a script that touched two slots would fail with CROSSSLOT). The tags follow
what must change together:

`{admin}`: grants, revocations, signing keys and the phase. An admin change and the
revision it moves are one script, and a gateway reads a consistent view of all of them
in one script. Small and rarely written, so one slot is no hot spot.
  - `phasegate:{admin}:revision`           counter, moved by every admin change
  - `phasegate:{admin}:changes`            pub/sub channel: each new revision
  - `phasegate:{admin}:seq`                counter giving grants and keys their order
  - `phasegate:{admin}:grants`             zset client id -> order
  - `phasegate:{admin}:grant:<client id>`  hash: principal, tier, secret_hash (the
                                           SHA-256 of the secret, never the secret),
                                           created_at, expires_at, revoked_at
  - `phasegate:{admin}:principal:<name>`   set of the principal's client ids
  - `phasegate:{admin}:revoked`            zset token id (jti) -> its expiry; a member
                                           is dropped a day past it, the set a day
                                           past its last member's
  - `phasegate:{admin}:keys`               zset key id -> order
  - `phasegate:{admin}:key:<kid>`          hash: private_pem, created_at, retire_at
  - `phasegate:{admin}:phases`             list of phase changes (JSON), oldest first

`{<job id>}`: a job's owner, and the limiter lease it holds, written in one script
when the model API answers with the job.
  - `phasegate:job:{<job id>}`             hash: principal, created_at
  - `phasegate:lease:{<job id>}`           JSON [lease id, [limit keys]], expiring
                                           with the lease itself

`{leases}`: which bound leases the reconciler should look at, and when. Written beside a
job's lease binding (in the same script on a single Redis, in a second one on a cluster)
and read by the reconcilers' claims, which move a lease's next check atomically.
  - `phasegate:{leases}:due`               zset job id -> when its next check is due
  - `phasegate:{leases}:expiry`            zset job id -> when its lease runs out

`{<principal>}`: what a principal lists, and its idempotency keys.
  - `phasegate:jobs:{<principal>}`         zset job id -> creation order
  - `phasegate:jobs:{<principal>}:created` hash job id -> created_at
  - `phasegate:jobs:{<principal>}:seq`     counter giving the order
  - `phasegate:idem:{<principal>}:<sha256 of the key>`  hash: fingerprint, state,
                                           status, content_type, body, created_at,
                                           expires_at; expiring with the record

`{reviews}`: held requests and their reviews: a human-paced queue, so one slot is no
hot spot, and every compare-and-set moves a review and its indexes in one script.
  - `phasegate:{reviews}:held:<video id>`   hash: the held request, body included
  - `phasegate:{reviews}:review:<video id>` hash: the review, its order (`seq`), its
                                            charges (JSON) and `settled`
  - `phasegate:{reviews}:seq`               counter giving the order
  - `phasegate:{reviews}:state:<state>`     zset video id -> order, one per state
  - `phasegate:{reviews}:pending`           zset video id -> expiry of pending ones
  - `phasegate:{reviews}:owed`              zset video id -> order of reviews that
                                            are past pending and not settled yet

A job's keys, its principal's listing and the lease index are in different slots: on a
single Redis one script writes them all, on a cluster the listing and the index follow
in a second round trip once the first script has settled who owns the job and whether
its lease was bound (so a listing never shows someone else's job, and the index never
holds a lease that is not bound). An index entry left behind by a lease taken on a
cluster between the two (or by a crash) is dropped when its lease runs out.
"""

from __future__ import annotations

import hashlib
from typing import Final

PREFIX: Final = "phasegate"
ADMIN: Final = f"{PREFIX}:{{admin}}"
REVIEWS: Final = f"{PREFIX}:{{reviews}}"
LEASES_DUE: Final = f"{PREFIX}:{{leases}}:due"
LEASES_EXPIRY: Final = f"{PREFIX}:{{leases}}:expiry"

REVISION: Final = f"{ADMIN}:revision"
CHANGES: Final = f"{ADMIN}:changes"
SEQ: Final = f"{ADMIN}:seq"
GRANTS: Final = f"{ADMIN}:grants"
GRANT: Final = f"{ADMIN}:grant:"
PRINCIPAL: Final = f"{ADMIN}:principal:"
REVOKED: Final = f"{ADMIN}:revoked"
KEYS: Final = f"{ADMIN}:keys"
KEY: Final = f"{ADMIN}:key:"
PHASES: Final = f"{ADMIN}:phases"

HELD: Final = f"{REVIEWS}:held:"
REVIEW: Final = f"{REVIEWS}:review:"
REVIEW_SEQ: Final = f"{REVIEWS}:seq"
PENDING: Final = f"{REVIEWS}:pending"
OWED: Final = f"{REVIEWS}:owed"


def tag(value: str) -> str:
    """A hash tag for an id: the id itself, unless braces in it would cut the tag short
    (or it is empty); then a digest of it, which no id of ours looks like."""
    if value and "{" not in value and "}" not in value:
        return value
    return "#" + hashlib.sha256(value.encode()).hexdigest()


def grant(client_id: str) -> str:
    return GRANT + client_id


def principal_grants(principal: str) -> str:
    return PRINCIPAL + principal


def signing_key(kid: str) -> str:
    return KEY + kid


def job(job_id: str) -> str:
    return f"{PREFIX}:job:{{{tag(job_id)}}}"


def lease(job_id: str) -> str:
    return f"{PREFIX}:lease:{{{tag(job_id)}}}"


def listing(principal: str) -> tuple[str, str, str]:
    """The principal's job list: order zset, created_at hash, order counter."""
    base = f"{PREFIX}:jobs:{{{tag(principal)}}}"
    return base, f"{base}:created", f"{base}:seq"


def idempotency(principal: str, key: str) -> str:
    # A digest keeps the key name short and free of whatever the client's key holds.
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{PREFIX}:idem:{{{tag(principal)}}}:{digest}"


def held(video_id: str) -> str:
    return HELD + video_id


def review(video_id: str) -> str:
    return REVIEW + video_id


def review_state(state: str) -> str:
    return f"{REVIEWS}:state:{state}"
