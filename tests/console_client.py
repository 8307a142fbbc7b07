"""A console client for tests: an httpx client that signs in with the console's form, as a
browser does, and posts the console's forms with their CSRF token and the console's origin."""

from __future__ import annotations

import re

import httpx

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(page: str) -> str:
    found = _TOKEN.search(page)
    assert found is not None, page
    return found.group(1)


class ConsoleClient(httpx.Client):
    def __init__(self, url: str) -> None:
        super().__init__(base_url=url, trust_env=False, timeout=30, headers={"Origin": url})
        self.token = ""

    def sign_in(self, auth_id: str, auth_token: str) -> httpx.Response:
        form = self.get("/console/sign-in")
        assert form.status_code == 200, form.text
        reply = self.post(
            "/console/sign-in",
            data={"csrf_token": csrf_token(form.text), "auth_id": auth_id, "auth_token": auth_token},
        )
        if reply.status_code == 303:
            self.token = csrf_token(self.get("/console/sessions").text)
        return reply

    def submit(self, path: str, **fields: str) -> httpx.Response:
        """A console form posted with the sign-in's CSRF token."""
        return self.post(path, data={"csrf_token": self.token, **fields})
