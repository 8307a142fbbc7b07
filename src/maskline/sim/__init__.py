"""The allocation simulator: replays session traces through the server's own allocation rules,
in memory, to size pools and compare policies (``maskline sim``)."""
