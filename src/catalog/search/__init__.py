"""Product search: documents built from PostgreSQL, an index kept in step by `search-sync`."""
