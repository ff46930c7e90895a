"""The per-store databases: naming, indexes, routing from shop domain, reads."""
