"""The use cases: the ledger (the system of record), commands by kind, idempotent
submissions with their receipts, plan files and their import, queries of the store."""
