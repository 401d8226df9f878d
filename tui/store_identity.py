"""Which cluster a history database belongs to, so one cluster's data never lands in another's."""

from __future__ import annotations

from tui.store import Store, StoreError

CLUSTER_KEY = "cluster"


async def stored_cluster(store: Store) -> str | None:
    async with store.db.execute(
        "SELECT value FROM store_meta WHERE key = ?", (CLUSTER_KEY,)
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else str(row[0])


async def claim_cluster(store: Store, identity: str) -> None:
    """Record `identity` in a new database; refuse a database that belongs to another cluster."""
    recorded = await stored_cluster(store)
    if recorded is None and not store.readonly:
        async with store.transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO store_meta (key, value) VALUES (?, ?)",
                (CLUSTER_KEY, identity),
            )
        recorded = await stored_cluster(store)
    if recorded is not None and recorded != identity:
        raise StoreError(
            f"history database {store.path} belongs to cluster {recorded!r}, not {identity!r}; "
            "set [store] path to a database for this cluster"
        )
