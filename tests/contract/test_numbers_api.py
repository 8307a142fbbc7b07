"""maskline's own number pool resource, documented in the README."""

from __future__ import annotations

import httpx

from tests.support import ServerThread, Tenant, fresh_number


def test_add_list_get_retire(http: httpx.Client, tenant: Tenant) -> None:
    number = fresh_number("+1628")
    added = http.post("/Number/", json={"numbers": [number], "country": "us"})
    assert added.status_code == 201
    body = added.json()
    assert body["message"] == "Numbers added"
    obj = body["numbers"][0]
    assert obj["number"] == number[1:] and obj["country"] == "US" and obj["status"] == "in_service"
    assert obj["subaccount"] == "" and obj["live_session_count"] == 0
    assert obj["resource_uri"] == f"/v1/Account/{tenant.auth_id}/Masking/Number/{number[1:]}/"

    listing = http.get("/Number/", params={"limit": 2}).json()["response"]
    assert listing["meta"]["total_count"] == 4 and len(listing["objects"]) == 2
    assert listing["meta"]["next"] == f"/v1/Account/{tenant.auth_id}/Masking/Number/?limit=2&offset=2"

    session = http.post(
        "/Session/", json={"first_party": fresh_number(), "second_party": fresh_number()}
    ).json()
    got = http.get(f"/Number/{session['virtual_number']}/").json()["response"]  # '+' form in the path
    assert got["live_session_count"] == 1

    retired = http.delete(f"/Number/{number[1:]}")
    assert retired.status_code == 200 and retired.json()["message"] == "Number retired"
    assert http.get(f"/Number/{number[1:]}/").json()["response"]["status"] == "retired"


def test_errors(http: httpx.Client, server: ServerThread, tenant: Tenant) -> None:
    assert (
        http.post("/Number/", json={}).json()["error"]
        == "Mandatory parameter missing. numbers must be present."
    )
    bad = http.post("/Number/", json={"numbers": ["12"]})
    assert (
        bad.status_code == 400 and bad.json()["error"] == "Invalid parameter. 12 is not a valid phone number."
    )
    country = http.post("/Number/", json={"number": fresh_number(), "country": "XX"})
    assert country.json()["error"] == "Invalid parameter. country XX is not an ISO 3166-1 alpha-2 code."
    assert http.get("/Number/14155559999/").status_code == 404
    assert http.delete("/Number/14155559999/").json()["error"] == "Number not found"
    wrong = http.put("/Number/")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST, GET"

    other = server.tenant(numbers=0)
    with server.api(other) as stranger:
        taken = stranger.post("/Number/", json={"numbers": [tenant.numbers[0]]})
        assert taken.status_code == 400
        assert taken.json()["error"] == f"Number {tenant.numbers[0]} already belongs to another account."
        assert stranger.get(f"/Number/{tenant.numbers[0]}/").status_code == 404


def test_subaccount_pools(server: ServerThread, tenant: Tenant, http: httpx.Client) -> None:
    sub = server.tenant(numbers=0, parent=tenant.auth_id)
    number = fresh_number("+1628")
    added = http.post("/Number/", json={"numbers": [number], "subaccount": sub.auth_id}).json()["numbers"][0]
    assert added["subaccount"] == sub.auth_id
    wrong = http.post("/Number/", json={"numbers": [fresh_number()], "subaccount": "SA" + "Z" * 18})
    assert wrong.json()["error"] == "Invalid parameter. subaccount is not valid."
    with server.api(sub) as client:
        mine = client.get("/Number/").json()["response"]["objects"]
        assert [n["number"] for n in mine] == [number[1:]]
        refused = client.post("/Number/", json={"numbers": [fresh_number()]})
        assert refused.status_code == 403 and refused.json()["error"] == "Subaccounts cannot manage numbers."
        session = client.post(
            "/Session/", json={"first_party": fresh_number(), "second_party": fresh_number()}
        )
        assert session.json()["virtual_number"] == number
