"""Storage: the only place with SQL (sqlite-utils)."""
