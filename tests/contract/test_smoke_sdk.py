from __future__ import annotations

from tests.support import fresh_number


def test_sdk_create_get_list_update_delete(plivo_client, tenant):  # type: ignore[no-untyped-def]
    sessions = plivo_client.masking_sessions
    first, second = fresh_number(), fresh_number()
    created = sessions.create_masking_session(first_party=first, second_party=second)
    assert created.message == "Session created"
    assert created.virtual_number == tenant.numbers[0]
    got = sessions.get_masking_session(created.session_uuid)
    assert got.response.first_party == first[1:]
    listed = sessions.list_masking_session(first_party=first)
    assert listed.response.meta.total_count == 1
    updated = sessions.update_masking_session(created.session_uuid, call_time_limit=14600, record=True)
    assert updated.message == "Session updated"
    assert updated.session.call_time_limit == 14600
    deleted = sessions.delete_masking_session(created.session_uuid)
    assert deleted.message == "Session expired"
