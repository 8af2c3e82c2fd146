"""SQLite storage for the hub: one writer, WAL, durable commits, migrations from version 1."""
