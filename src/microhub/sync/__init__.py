"""Hub-side sync: push the outbox to the cloud in lanes, pull configuration (``docs/sync.md``)."""
