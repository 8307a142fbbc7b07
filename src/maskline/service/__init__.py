"""Use cases: what the API and the CLI can ask of maskline."""
