"""Writing to a store database: upserts, tombstones, spills, media bytes in GridFS."""
