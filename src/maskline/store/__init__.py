"""Storage adapters: the schema and the database implementations of the service's store."""
