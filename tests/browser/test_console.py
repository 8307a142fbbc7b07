"""The operator console in headless Chromium against a real maskline server: signing in (a wrong
token, then the right one), finding a session by a party's number, its calls and callback
deliveries, revealing a number, signing out, a form posted without its CSRF token, who called
whom, the pools with their charts, retiring a number through its confirmation, the carrier's
URLs, and the pages at a phone's width. The run saves screenshots of the main pages for
docs/console.md."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.browser.conftest import screenshot
from tests.contract.test_events import Receiver
from tests.contract.test_webhooks import Carrier, session
from tests.databases import query
from tests.support import FakeClock, ServerThread, Tenant

PHONE = (390, 844)


@dataclass
class World:
    server: ServerThread
    tenant: Tenant
    session: dict[str, str]  # as the API answered it
    other: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A server with a session that had a call, whose callbacks were delivered until the
    receiver began to fail; and another session."""
    database = f"sqlite:///{tmp_path_factory.mktemp('console') / 'console.db'}"
    server = ServerThread(database, FakeClock()).start()
    receiver = Receiver()
    try:
        tenant = server.tenant()
        carrier = Carrier(server, tenant, "plivo")
        with server.api(tenant) as http:
            s = session(http, callback_url=receiver.url, record=True)
            other = session(http)
        carrier.call("browser-1", "+" + s["first_party"], "+" + s["virtual_number"])
        carrier.leg("browser-1", "ringing")
        carrier.leg("browser-1", "answered")
        receiver.wait_for(3)
        server.clock.advance(42)  # the parties talk
        receiver.failures = 1000  # from here on the receiver fails: the next events wait to be retried
        carrier.leg("browser-1", "completed")
        carrier.hangup("browser-1")
        deadline = time.monotonic() + 10
        while not query(database, "SELECT 1 FROM events WHERE attempts > 0 AND pending"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield World(server, tenant, s, other)
    finally:
        receiver.close()
        server.stop()


def follow(driver: Any, element: Any) -> None:
    """Click ``element`` and wait for the page it leads to: a mark left on this page's window
    is gone from the next one. (Waiting for the old page's element to go stale races the
    navigation: Chromium may answer that node with an inspector error instead.)"""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.wait import WebDriverWait

    driver.execute_script("window.leaving = true")
    element.click()
    WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return !window.leaving && document.readyState === 'complete'")
    )


def visit(driver: Any, world: World, path: str) -> None:
    driver.get(world.server.url + path)


def sign_in(driver: Any, world: World, token: str | None = None) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    visit(driver, world, "/console/sign-in")
    driver.find_element(By.ID, "auth_id").send_keys(world.tenant.auth_id)
    driver.find_element(By.ID, "auth_token").send_keys(token or world.tenant.auth_token)
    follow(driver, driver.find_element(By.CSS_SELECTOR, "form button[type=submit]"))


@pytest.fixture
def desktop(browser: Any) -> Any:
    browser.set_window_size(1000, 760)
    browser.delete_all_cookies()
    return browser


def test_sign_in_refuses_a_wrong_token_and_takes_the_right_one(desktop: Any, world: World) -> None:
    from selenium.webdriver.common.by import By

    visit(desktop, world, "/console/sessions")
    assert desktop.current_url.endswith("/console/sign-in?next=%2Fconsole%2Fsessions")  # sent to the form
    screenshot(desktop, "sign-in")
    sign_in(desktop, world, "not-the-token")
    assert "Authentication failed" in desktop.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert desktop.get_cookie("maskline_console") is None
    sign_in(desktop, world)
    assert desktop.current_url.endswith("/console/sessions")
    assert world.tenant.auth_id in desktop.find_element(By.CSS_SELECTOR, ".who").text
    cookie = desktop.get_cookie("maskline_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/console"
    screenshot(desktop, "sessions")


def test_finding_a_session_by_a_party_and_seeing_its_calls_and_callbacks(desktop: Any, world: World) -> None:
    from selenium.webdriver.common.by import By

    sign_in(desktop, world)
    party = "+" + world.session["second_party"]
    desktop.find_element(By.ID, "party").send_keys(party)
    follow(desktop, desktop.find_element(By.CSS_SELECTOR, ".filters button[type=submit]"))
    assert desktop.current_url.endswith("/console/sessions")  # no number in the address
    rows = desktop.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 1
    assert "*" + party[-4:] in rows[0].text and party not in rows[0].text
    screenshot(desktop, "search")
    follow(desktop, rows[0].find_element(By.TAG_NAME, "a"))
    assert desktop.current_url.endswith("/console/sessions/" + world.session["session_uuid"])
    page = desktop.find_element(By.TAG_NAME, "main").text
    assert "Call at" in page and "completed" in page and "ended" in page
    states = [row.text for row in desktop.find_elements(By.CSS_SELECTOR, "#callbacks ~ div tbody tr")]
    assert any("SessionFirstPartyAnswer" in r and "delivered" in r for r in states), states
    assert any("retrying" in r and "next attempt" in r for r in states), states
    for field in ("first_party", "second_party", "virtual_number"):
        assert world.session[field] not in page
    screenshot(desktop, "session")


def test_revealing_a_number_shows_it_and_records_who(desktop: Any, world: World) -> None:
    from selenium.webdriver.common.by import By

    sign_in(desktop, world)
    visit(desktop, world, "/console/sessions/" + world.session["session_uuid"])
    follow(desktop, desktop.find_element(By.CSS_SELECTOR, "button[aria-label='Reveal the first party']"))
    assert "+" + world.session["first_party"] in desktop.find_element(By.CSS_SELECTOR, ".revealed").text
    assert world.session["second_party"] not in desktop.find_element(By.TAG_NAME, "main").text
    rows = query(
        world.server.database,
        "SELECT auth_id, field FROM console_reveals WHERE session_uuid = ?",
        world.session["session_uuid"],
    )
    assert (world.tenant.auth_id, "first_party") in rows


def test_signing_out_ends_the_sign_in_for_good(desktop: Any, world: World) -> None:
    from selenium.webdriver.common.by import By

    sign_in(desktop, world)
    cookie = desktop.get_cookie("maskline_console")["value"]
    follow(desktop, desktop.find_element(By.CSS_SELECTOR, "form[action='/console/sign-out'] button"))
    assert desktop.current_url.endswith("/console/sign-in")
    with httpx.Client(
        base_url=world.server.url, trust_env=False, cookies={"maskline_console": cookie}
    ) as old:
        reply = old.get("/console/sessions")
        assert reply.status_code == 303 and reply.headers["location"].startswith("/console/sign-in")


def test_a_form_posted_without_its_csrf_token_is_refused(desktop: Any, world: World) -> None:
    sign_in(desktop, world)
    cookie = desktop.get_cookie("maskline_console")["value"]
    url = world.server.url
    with httpx.Client(
        base_url=url, trust_env=False, cookies={"maskline_console": cookie}, headers={"Origin": url}
    ) as forger:
        reply = forger.post(
            f"/console/sessions/{world.session['session_uuid']}/reveal", data={"field": "second_party"}
        )
        assert reply.status_code == 403
        assert world.session["second_party"] not in reply.text
        assert forger.post("/console/sign-out", data={}).status_code == 403
        assert forger.get("/console/sessions").status_code == 200  # still signed in
    rows = query(
        world.server.database,
        "SELECT 1 FROM console_reveals WHERE session_uuid = ? AND field = 'second_party'",
        world.session["session_uuid"],
    )
    assert rows == []


def test_the_keyboard_reaches_the_skip_link_first(desktop: Any, world: World) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    sign_in(desktop, world)
    desktop.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    focused = desktop.switch_to.active_element
    assert focused.get_attribute("class") == "skip" and focused.is_displayed()
    focused.send_keys(Keys.ENTER)
    assert desktop.current_url.endswith("#main")


def test_pages_fit_a_phones_width(browser: Any, world: World) -> None:
    sign_in(browser, world)
    browser.set_window_size(*PHONE)
    for path, name in (
        ("/console/sessions", "phone-sessions"),
        ("/console/sessions/" + world.session["session_uuid"], "phone-session"),
        ("/console/sign-in", ""),
    ):
        browser.set_window_size(*PHONE)
        visit(browser, world, path)
        width, scrolled = browser.execute_script(
            "return [document.documentElement.clientWidth, document.documentElement.scrollWidth]"
        )
        assert scrolled <= width, (path, width, scrolled)
        if name:
            screenshot(browser, name)


def submit(driver: Any, form_selector: str) -> None:
    from selenium.webdriver.common.by import By

    follow(driver, driver.find_element(By.CSS_SELECTOR, f"{form_selector} button[type=submit]"))


def fits(driver: Any) -> None:
    width, scrolled = driver.execute_script(
        "return [document.documentElement.clientWidth, document.documentElement.scrollWidth]"
    )
    assert scrolled <= width, (driver.current_url, width, scrolled)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_who_called_whom_names_the_session_and_the_masked_counterpart(
    browser: Any, world: World, size: str
) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(*((1000, 760) if size == "desktop" else PHONE))
    sign_in(browser, world)
    follow(browser, browser.find_element(By.LINK_TEXT, "Lookup"))
    assert browser.current_url.endswith("/console/lookup")
    for field, value in (
        ("virtual_number", "+" + world.session["virtual_number"]),
        ("party", "+" + world.session["first_party"]),
        ("tolerance", "10"),
    ):
        browser.find_element(By.ID, field).send_keys(value)
    # The form's time is the server's now, minutes after the call.
    submit(browser, "form.filters")
    assert browser.current_url.endswith("/console/lookup")  # no number in the address
    calls = browser.find_element(By.CSS_SELECTOR, "section.answer").text
    assert "connected: the called party answered" in calls
    assert "*" + world.session["second_party"][-4:] in calls
    main = browser.find_element(By.TAG_NAME, "main").text
    for field in ("first_party", "second_party", "virtual_number"):
        assert world.session[field] not in main
    fits(browser)
    screenshot(browser, "lookup" if size == "desktop" else "phone-lookup")
    follow(
        browser,
        browser.find_element(By.CSS_SELECTOR, f"section.answer a[href$='{world.session['session_uuid']}']"),
    )
    assert browser.current_url.endswith("/console/sessions/" + world.session["session_uuid"])


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_pools_page_shows_each_pool_with_its_chart(browser: Any, world: World, size: str) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(*((1000, 760) if size == "desktop" else PHONE))
    sign_in(browser, world)
    follow(browser, browser.find_element(By.LINK_TEXT, "Pools"))
    pool = browser.find_element(By.CSS_SELECTOR, "section.pool")
    assert world.tenant.auth_id in pool.find_element(By.TAG_NAME, "h2").text
    chart = pool.find_element(By.CSS_SELECTOR, "figure.chart svg")
    assert chart.get_attribute("role") == "img" and chart.size["width"] > 250  # scaled to the width
    assert chart.size["width"] <= browser.execute_script("return document.documentElement.clientWidth")
    pool.find_element(By.TAG_NAME, "summary").click()  # the pool's numbers, masked
    numbers = pool.find_element(By.CSS_SELECTOR, "details table").text
    for number in world.tenant.numbers:
        assert "*" + number[-4:] in numbers and number not in numbers
    fits(browser)
    browser.execute_script("window.scrollTo(0, 0)")
    screenshot(browser, "pools" if size == "desktop" else "phone-pools")


def test_retiring_a_number_goes_through_its_confirmation(desktop: Any, world: World) -> None:
    from selenium.webdriver.common.by import By

    used = {"+" + world.session["virtual_number"], "+" + world.other["virtual_number"]}
    number = next((n for n in world.tenant.numbers if n not in used), world.tenant.numbers[-1])
    sign_in(desktop, world)
    visit(desktop, world, "/console/pools")
    desktop.find_element(By.CSS_SELECTOR, "section.pool summary").click()
    follow(
        desktop, desktop.find_element(By.CSS_SELECTOR, f"button[aria-label='Retire +*******{number[-4:]}']")
    )
    assert desktop.current_url.endswith("/console/pools/retire")
    question = desktop.find_element(By.CSS_SELECTOR, ".confirm").text
    assert f"Retire +*******{number[-4:]}?" in question and number not in question
    assert query(world.server.database, "SELECT state FROM numbers WHERE number = ?", number) == [
        ("in_service",)
    ]
    screenshot(desktop, "retire-confirm")
    submit(desktop, "form.confirm-form")
    assert desktop.current_url.endswith("/console/pools/done")
    assert "is retired" in desktop.find_element(By.CSS_SELECTOR, "[role=status]").text
    desktop.refresh()  # a reload shows the pools, and asks to post nothing again
    assert desktop.current_url.endswith("/console/pools")
    assert query(world.server.database, "SELECT state FROM numbers WHERE number = ?", number) == [
        ("retired",)
    ]


def test_the_carrier_page_lists_the_urls_to_set(browser: Any, world: World) -> None:
    from selenium.webdriver.common.by import By

    for size, name in (((1000, 760), "carrier"), (PHONE, "")):
        browser.set_window_size(*size)
        sign_in(browser, world)
        follow(browser, browser.find_element(By.LINK_TEXT, "Carrier"))
        table = browser.find_element(By.CSS_SELECTOR, "table").text
        assert f"/webhooks/plivo/{world.tenant.auth_id}/answer" in table and "POST" in table
        fits(browser)
        if name:
            screenshot(browser, name)


def test_screenshots_are_small() -> None:  # last: after every screenshot is taken
    from tests.browser.conftest import DOCS, SCREENSHOTS

    for path in [*DOCS.glob("*.png"), *SCREENSHOTS.glob("*.png")]:
        assert path.stat().st_size < 150_000, path
