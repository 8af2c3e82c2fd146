"""The cloud service: many hubs of many organisations sync here (see ``docs/sync.md``)."""

from __future__ import annotations

from microhub.cloud.store import CloudStore

__all__ = ["CloudStore", "open_store"]


def open_store(url: str, *, migrate: bool = True) -> CloudStore:
    """Open the store named by ``url`` (``sqlite:///path`` or ``postgresql://...``)."""
    from microhub.errors import ConfigurationError

    store: CloudStore
    if url.startswith("sqlite:///"):
        from microhub.cloud.store_sqlite import SqliteCloudStore

        store = SqliteCloudStore(url)
    elif url.startswith(("postgresql://", "postgres://")):
        from microhub.cloud.store_postgres import PostgresCloudStore

        store = PostgresCloudStore(url)
    else:
        raise ConfigurationError(
            f"unsupported cloud database URL (use sqlite:///PATH or postgresql://...): {url.split(':')[0]}:",
            code="bad_db_url",
            details={"field": "db"},
        )
    if migrate:
        store.migrate()
    return store
