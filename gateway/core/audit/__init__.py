"""Audit records: their shapes (`records`), and the hash chain with signed checkpoints
that makes tampering evident (`chain`). Pure: the writers live in `gateway.ports.audit`."""
