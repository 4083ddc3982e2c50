"""One round trip of the Redis audit sink: the Lua script and the layout of its arguments.

The script runs atomically, so everything below happens entirely or not at all:

1. Recovery. Each abandoned writer (one whose batch failed, so that the sink could not
   know whether it landed) comes with one or two candidate checkpoints: one for each
   state its chain may have been left in. The candidate whose `prev_hash` is the
   writer's stored last hash is added, sealing that chain (`sealed`, `recovered`).
   When none matches (the server lost writes, say) the writer is marked
   `ended: "unknown_state"` and left unsealed, for `audit verify` to report.
2. Fence. A batch for a writer that is sealed or ended is refused: a batch that
   timed out and reaches Redis after its writer was recovered can never extend the
   sealed chain.
3. The batch. Every line is added in chain order, and the writer's entry in the
   writers hash updated: first and last entry ids and record times, lines, last hash,
   whether its last line is a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# KEYS[1]: the stream; KEYS[2]: the writers hash.
# ARGV[1]: writer id; ARGV[2], ARGV[3]: times of the batch's first and last lines;
# ARGV[4]: hash of its last line; ARGV[5]: '1' when that line is the closing checkpoint;
# ARGV[6]: number of recoveries R; ARGV[7]: time of the recovery checkpoints;
# then 7 per recovery: writer, and twice (prev hash, checkpoint line, its hash), unused
# candidates as empty strings; then the batch's lines, in chain order (maybe none).
# Returns the ids of the batch's first and last entries (empty without lines).
SCRIPT: Final = """
local recoveries = tonumber(ARGV[6])
for r = 0, recoveries - 1 do
  local at = 8 + 7 * r
  local old = ARGV[at]
  local stored = redis.call('HGET', KEYS[2], old)
  if stored then
    local meta = cjson.decode(stored)
    if not meta.sealed and not meta.ended then
      local line, hash
      if meta.last_hash == ARGV[at + 1] then
        line, hash = ARGV[at + 2], ARGV[at + 3]
      elseif ARGV[at + 4] ~= '' and meta.last_hash == ARGV[at + 4] then
        line, hash = ARGV[at + 5], ARGV[at + 6]
      end
      if line then
        meta.last_id = redis.call('XADD', KEYS[1], '*', 'writer', old, 'line', line)
        meta.last_time = ARGV[7]
        meta.lines = meta.lines + 1
        meta.last_hash = hash
        meta.sealed = true
        meta.recovered = true
      else
        meta.ended = 'unknown_state'
      end
      redis.call('HSET', KEYS[2], old, cjson.encode(meta))
    end
  end
end

local first_line = 8 + 7 * recoveries
if first_line > #ARGV then
  return {}
end
local writer = ARGV[1]
local stored = redis.call('HGET', KEYS[2], writer)
local meta
if stored then
  meta = cjson.decode(stored)
  if meta.sealed or meta.ended then
    return redis.error_reply('PGCLOSED this audit writer is closed')
  end
else
  meta = {first_time = ARGV[2], lines = 0, sealed = false}
end
local first, last
for i = first_line, #ARGV do
  last = redis.call('XADD', KEYS[1], '*', 'writer', writer, 'line', ARGV[i])
  if not first then first = last end
end
if meta.first_id == nil then meta.first_id = first end
meta.last_id = last
meta.last_time = ARGV[3]
meta.lines = meta.lines + #ARGV - first_line + 1
meta.last_hash = ARGV[4]
meta.sealed = ARGV[5] == '1'
redis.call('HSET', KEYS[2], writer, cjson.encode(meta))
return {first, last}
"""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A checkpoint for one state an abandoned chain may be in: after `prev_hash`."""

    prev_hash: str
    line: bytes
    hash: str


@dataclass(frozen=True, slots=True)
class Recovery:
    writer: str
    candidates: tuple[Candidate, ...]  # one or two


@dataclass(frozen=True, slots=True)
class Batch:
    writer: str
    lines: list[bytes]
    first_time: str
    last_time: str
    last_hash: str
    sealed: bool = False


def arguments(batch: Batch, recoveries: list[Recovery], recovery_time: str) -> list[str | bytes]:
    """ARGV of the script for one round trip."""
    laid_out: list[str | bytes] = [
        batch.writer,
        batch.first_time,
        batch.last_time,
        batch.last_hash,
        "1" if batch.sealed else "0",
        str(len(recoveries)),
        recovery_time,
    ]
    for recovery in recoveries:
        if not 1 <= len(recovery.candidates) <= 2:
            raise ValueError("a recovery has one or two candidate checkpoints")
        laid_out.append(recovery.writer)
        for candidate in recovery.candidates:
            laid_out += [candidate.prev_hash, candidate.line, candidate.hash]
        laid_out += ["", "", ""] * (2 - len(recovery.candidates))
    laid_out += batch.lines
    return laid_out
