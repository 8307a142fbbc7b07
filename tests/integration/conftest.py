from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.databases import Databases
from tests.integration.harness import Harness


@pytest.fixture
def harness(databases: Databases) -> Iterator[Callable[..., Harness]]:
    """Makes harnesses on new databases (of each backend in turn); closes them afterwards."""
    made: list[Harness] = []

    def make(numbers: list[str] | None = None, **options: Any) -> Harness:
        made.append(Harness(databases.new(), numbers, **options))
        return made[-1]

    yield make
    for h in made:
        h.close()
