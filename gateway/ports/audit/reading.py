"""Reading any `AuditSource` back in time order, for the reviewer commands.

Chains overlap in time: an admin command writes its own short segment while the
gateway keeps appending to its open one, and each gateway worker has a chain of its
own. `matching` merges the chains' selected records by time, opening a chain only
once the merge reaches its first record, so that only the chains being written at
the same time are read side by side.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Final, Protocol, runtime_checkable

from gateway.core.audit.query import Match, Query, select, shifted
from gateway.ports.audit.base import AuditSource, Chain

# A writer's records are in write order, but the wall clock it stamps them with may
# step back a little (NTP); a chain is skipped for a time range only beyond that.
CLOCK_SLACK_SECONDS: Final = 300.0
_LINES_PER_BLOCK: Final = 4096


@runtime_checkable
class ReadsBlocks(Protocol):
    """A source that hands out a chain as blocks of whole lines, cheaper to search than
    the same lines one by one (see `gateway.core.audit.query.select`)."""

    def blocks(self, chain: Chain) -> Iterator[bytes]: ...


def may_hold(chain: Chain, since: str | None, until: str | None) -> bool:
    """False only when the chain's known times put it wholly outside [since, until)."""
    if (
        since is not None
        and not chain.may_be_open
        and chain.last_time is not None
        and chain.last_time < shifted(since, -CLOCK_SLACK_SECONDS)
    ):
        return False
    return not (
        until is not None
        and chain.first_time is not None
        and chain.first_time >= shifted(until, CLOCK_SLACK_SECONDS)
    )


def blocks_of(source: AuditSource, chain: Chain) -> Iterator[bytes]:
    if isinstance(source, ReadsBlocks):
        return source.blocks(chain)
    return _batched(source.lines(chain))


def matching(source: AuditSource, query: Query, *, ordered: bool = True) -> Iterator[Match]:
    """The records matching `query`: in time order across chains, or else chain by
    chain (cheaper, for whoever only counts)."""
    chains = [chain for chain in source.chains() if may_hold(chain, query.since, query.until)]
    if not ordered:
        return itertools.chain.from_iterable(
            select(blocks_of(source, chain), query) for chain in chains
        )
    return merged(chains, lambda chain: select(blocks_of(source, chain), query))


def merged(chains: Sequence[Chain], read: Callable[[Chain], Iterator[Match]]) -> Iterator[Match]:
    """The chains' records merged by time (each chain read in its own order)."""
    pending = deque(sorted(chains, key=_start))
    # (time, tie-breaker, record, the rest of its chain)
    heap: list[tuple[str, int, Match, Iterator[Match]]] = []
    order = itertools.count()
    while pending or heap:
        while pending and (not heap or _start(pending[0]) <= heap[0][0]):
            stream = read(pending.popleft())
            if (first := next(stream, None)) is not None:
                heapq.heappush(heap, (_time(first), next(order), first, stream))
        if len(heap) == 1:
            # One chain being read (most of the time): no merging until the next starts.
            _, _, match, stream = heap.pop()
            yield match
            until = _start(pending[0]) if pending else None
            for match in stream:
                if until is not None and _time(match) >= until:
                    heapq.heappush(heap, (_time(match), next(order), match, stream))
                    break
                yield match
            continue
        if not heap:
            continue
        _, _, match, stream = heap[0]
        yield match
        if (following := next(stream, None)) is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (_time(following), next(order), following, stream))


def newest(source: AuditSource, count: int) -> list[Match]:
    """The last `count` records, checkpoints included, oldest first."""
    everything = Query(checkpoints=True)
    # Open chains first (they may have grown since listed), then the latest ending.
    chains = sorted(
        source.chains(), key=lambda chain: (chain.may_be_open, chain.last_time or ""), reverse=True
    )
    found: list[Match] = []
    for chain in chains:
        if (
            len(found) >= count
            and not chain.may_be_open
            and (chain.last_time or "") < _time(found[0])
        ):
            break
        tail = deque(source.lines(chain), maxlen=count + 1)
        found.extend(select(_batched(tail), everything))
        found.sort(key=_time)
        del found[:-count]
    return found


def _start(chain: Chain) -> str:
    return chain.first_time or ""


def _time(match: Match) -> str:
    time = match.record.get("time")
    return time if isinstance(time, str) else ""


def _batched(lines: Iterable[bytes]) -> Iterator[bytes]:
    batch: list[bytes] = []
    for line in lines:
        batch.append(line)
        if len(batch) == _LINES_PER_BLOCK:
            yield b"\n".join(batch) + b"\n"
            batch = []
    if batch:
        yield b"\n".join(batch) + b"\n"
