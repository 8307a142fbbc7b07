"""The Plivo-compatible REST API."""
