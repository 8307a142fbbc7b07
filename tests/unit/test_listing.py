"""List filters, windows and page links."""

from __future__ import annotations

import pytest

from maskline.domain import errors
from maskline.domain.errors import MaskingError
from maskline.domain.listing import DAY, Condition, ListQuery, Windows, page_links, parse_list
from maskline.domain.timefmt import format_time, parse_filter_time
from tests.support import same_error

NOW = 1_767_225_600  # 2026-01-01 00:00:00 UTC


def parse(**params: str) -> ListQuery:
    return parse_list(params, NOW, Windows())


def fails(**params: str) -> MaskingError:
    with pytest.raises(MaskingError) as caught:
        parse(**params)
    return caught.value


def test_timestamps() -> None:
    assert format_time(NOW) == "2026-01-01 00:00:00 +0000 UTC"
    assert parse_filter_time("2026-01-01 00:00") == (NOW, 60.0)
    assert parse_filter_time("2026-01-01 00:00:05") == (NOW + 5, 1.0)
    assert parse_filter_time("2026-01-01 00:00:05.5") == (NOW + 5.5, 1e-6)
    for bad in ("2026-13-01 00:00", "yesterday", "2026-01-01", "2026-01-01 00:00:00 UTC"):
        assert parse_filter_time(bad) is None


def test_default_window_is_the_last_seven_days() -> None:
    query = parse()
    assert query.conditions == [Condition("created", ">=", NOW - 7 * DAY)]
    assert (query.limit, query.offset, query.status) == (20, 0, "all")


def test_created_filters_define_the_window() -> None:
    query = parse(created_time__gt="2025-12-20 00:00", created_time__lte="2025-12-25 00:00:00")
    assert Condition("created", ">", NOW - 12 * DAY) in query.conditions
    assert Condition("created", "<=", NOW - 7 * DAY) in query.conditions
    assert len(query.conditions) == 2


def test_upper_bound_alone_gets_a_lower_bound_seven_days_before() -> None:
    query = parse(expiry_time__lt="2025-12-25 00:00")
    assert Condition("expiry", ">=", NOW - 14 * DAY) in query.conditions


def test_exact_time_matches_its_precision() -> None:
    query = parse(created_time="2025-12-31 23:59")
    assert query.conditions == [Condition("created", ">=", NOW - 60), Condition("created", "<", NOW)]


def test_window_over_thirty_days() -> None:
    assert same_error(fails(created_time__gte="2025-11-01 00:00"), errors.WindowTooLong("created_time", 30))
    assert parse(created_time__gte="2025-12-02 00:00").conditions


def test_bad_values() -> None:
    assert same_error(fails(limit="0"), errors.BadLimit())
    assert same_error(fails(limit="21"), errors.BadLimit())
    assert same_error(fails(limit="x"), errors.BadLimit())
    assert same_error(fails(offset="-1"), errors.BadOffset())
    assert same_error(fails(status="live"), errors.BadStatus())
    assert same_error(fails(first_party="123"), errors.InvalidPhone("first_party"))
    assert same_error(fails(created_time__gt="2025-12-20"), errors.BadTimestamp("created_time__gt"))
    assert same_error(fails(duration__gte="1.5"), errors.BadCount("duration__gte"))


def test_numbers_normalise_and_durations() -> None:
    query = parse(
        virtual_number="14155550100", duration__gte="50", session_duration__lt="70", status="active"
    )
    assert query.parties == {"virtual_number": "+14155550100"}
    assert Condition("duration", ">=", 50) in query.conditions
    assert Condition("duration", "<", 70) in query.conditions
    assert query.status == "active"


def test_page_links_repeat_the_filters() -> None:
    query = parse(status="expired", limit="5", offset="5")
    next_link, previous = page_links("/v1/Account/MA/Masking/Session/", query, total=12)
    assert next_link == "/v1/Account/MA/Masking/Session/?limit=5&offset=10&status=expired"
    assert previous == "/v1/Account/MA/Masking/Session/?limit=5&offset=0&status=expired"
    assert page_links("/x/", parse(), total=20) == (None, None)
