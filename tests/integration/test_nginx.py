"""deploy/nginx/maskline.conf, run by a real nginx in front of a real ``maskline serve``: signed
webhooks pass through it over HTTPS, HTTP is redirected, the client maskline sees is the one
that connected to nginx whatever it claims, and nginx refuses what maskline would.

The shipped file is rendered for the test by replacing the literal values an operator edits
(listen ports, certificate paths, maskline's port) with a free port on 127.0.0.1, a throwaway
certificate and the test server's port; nothing else in it is changed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3
from twilio.request_validator import RequestValidator

from tests.support import ServerProcess, free_port, fresh_number, maskline

# (/usr/sbin is not on every user's PATH)
NGINX = shutil.which("nginx") or shutil.which("/usr/sbin/nginx") or ""
OPENSSL = shutil.which("openssl") or ""
if not (NGINX and OPENSSL):
    pytest.skip("the nginx tests need nginx (Debian: nginx) and openssl", allow_module_level=True)

SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "maskline.conf"
PLIVO_ID, TWILIO_ID = "MA" + "NGINXPLIVO" + "0" * 8, "MA" + "NGINXTWILIO" + "0" * 7
TOKEN, CARRIER_TOKEN = "nginx-test-token", "carrier-token"
FAILURES_PER_MINUTE = 5


def edit(site: str, edits: dict[str, str]) -> str:
    for placeholder, value in edits.items():
        assert site.count(placeholder) == 1, placeholder
        site = site.replace(placeholder, value)
    return site


def with_certificate(site: str, cert: Path, key: Path) -> str:
    """The shipped site as an operator edits it: with the paths of their certificate and key."""
    return edit(
        site,
        {"/etc/ssl/certs/mask.example.com.pem": str(cert), "/etc/ssl/private/mask.example.com.key": str(key)},
    )


def render(site: str, *, http: int, https: int, upstream: int, cert: Path, key: Path) -> str:
    """The shipped site with the operator's values replaced by the test's (each must be there)."""
    return edit(
        with_certificate(site, cert, key),
        {
            "    listen [::]:80;\n": "",
            "    listen [::]:443 ssl;\n": "",
            "listen 80;": f"listen 127.0.0.1:{http};",
            "listen 443 ssl;": f"listen 127.0.0.1:{https} ssl;",
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream};",
        },
    )


def main_config(folder: Path, site: Path) -> str:
    """A minimal nginx.conf around the site, with every file nginx writes in ``folder``."""
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx's workers would switch to an unprivileged user that cannot reach the
    # test's private temporary folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\ndaemon off;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        f"http {{\n    access_log off;\n{temp}\n    include {site};\n}}\n"
    )


@dataclass
class Deployment:
    https: str  # the public URL
    http: str
    direct: str  # maskline itself, as the operator reaches it on the host
    folder: Path
    cert: Path
    key: Path
    numbers: dict[str, list[str]]

    def client(self, source: str = "127.0.0.1") -> httpx.Client:
        trusted = ssl.create_default_context(cafile=str(self.cert))
        transport = httpx.HTTPTransport(local_address=source, verify=trusted)
        return httpx.Client(base_url=self.https, transport=transport, trust_env=False, timeout=10)


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"nginx did not start: {log.read_text() if log.exists() else ''}"
                ) from None
            time.sleep(0.05)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("nginx")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    https_port, http_port = free_port(), free_port()
    public = f"https://127.0.0.1:{https_port}"

    database = f"sqlite:///{folder / 'maskline.db'}"
    numbers: dict[str, list[str]] = {}
    for auth_id, kind in ((PLIVO_ID, "plivo"), (TWILIO_ID, "twilio")):
        maskline("account", "create", "--auth-id", auth_id, "--auth-token", TOKEN, database=database)
        numbers[kind] = [fresh_number("+1628") for _ in range(2)]
        maskline("number", "add", *numbers[kind], "--account", auth_id, database=database)
        maskline(
            "carrier", "set", "--account", auth_id, "--carrier", kind, "--auth-token", CARRIER_TOKEN,
            "--public-url", public, database=database,
        )  # fmt: skip
    server = ServerProcess(
        database,
        env={
            "MASKLINE_TRUSTED_PROXIES": "127.0.0.1/32",
            "MASKLINE_AUTH_FAILURES_PER_MINUTE": str(FAILURES_PER_MINUTE),
        },
    )
    nginx: subprocess.Popen[bytes] | None = None
    try:
        site = folder / "maskline.conf"
        site.write_text(
            render(
                SITE.read_text(), http=http_port, https=https_port, upstream=server.port, cert=cert, key=key
            )
        )
        config = folder / "nginx.conf"
        config.write_text(main_config(folder, site))
        log = folder / "error.log"
        command = [NGINX, "-p", str(folder), "-e", str(log), "-c", str(config)]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        nginx = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(https_port, nginx, log)
        wait_for_port(http_port, nginx, log)
        yield Deployment(public, f"http://127.0.0.1:{http_port}", server.url, folder, cert, key, numbers)
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)  # graceful: the master stops its workers
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait()
        server.stop()


def session(deployment: Deployment, auth_id: str) -> dict[str, str]:
    with deployment.client() as client:
        reply = client.post(
            f"/v1/Account/{auth_id}/Masking/Session/",
            auth=(auth_id, TOKEN),
            json={"first_party": fresh_number(), "second_party": fresh_number()},
        )
    assert reply.status_code == 201, reply.text
    created: dict[str, str] = reply.json()["session"]
    return created


def webhook(deployment: Deployment, kind: str, form: dict[str, str], tamper: bool = False) -> httpx.Response:
    """An inbound call, signed as the carrier signs it: over the public URL it calls."""
    auth_id, action = (PLIVO_ID, "answer") if kind == "plivo" else (TWILIO_ID, "voice")
    url = f"{deployment.https}/webhooks/{kind}/{auth_id}/{action}"
    if kind == "plivo":
        nonce = "12345678901234567890"
        signed = construct_post_url(url, dict(form)).decode()
        signature = get_signature_v3(CARRIER_TOKEN, signed, nonce).decode()
        headers = {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}
    else:
        headers = {"X-Twilio-Signature": RequestValidator(CARRIER_TOKEN).compute_signature(url, form)}
    if tamper:
        form = {**form, "From": fresh_number()}
    with deployment.client() as client:
        return client.post(url, content=urlencode(form), headers={
            **headers, "Content-Type": "application/x-www-form-urlencoded"
        })  # fmt: skip


@pytest.mark.parametrize("kind", ["plivo", "twilio"])
def test_signed_webhooks_pass_through_the_proxy(deployment: Deployment, kind: str) -> None:
    s = session(deployment, PLIVO_ID if kind == "plivo" else TWILIO_ID)  # the API, through nginx
    caller, callee, number = "+" + s["first_party"], "+" + s["second_party"], "+" + s["virtual_number"]
    if kind == "plivo":
        form = {"CallUUID": "nginx-1", "From": caller.lstrip("+"), "To": number.lstrip("+"),
                "CallStatus": "ringing", "Direction": "inbound"}  # fmt: skip
    else:
        form = {"CallSid": "CAnginx1", "From": caller, "To": number, "CallStatus": "ringing",
                "Direction": "inbound", "AccountSid": "ACtest"}  # fmt: skip
    reply = webhook(deployment, kind, form)
    assert reply.status_code == 200, reply.text
    dial = ET.fromstring(reply.text).find("Dial")
    assert dial is not None, reply.text
    assert dial.findtext("Number") == callee and dial.get("callerId") == number
    assert reply.headers["strict-transport-security"].startswith("max-age=")
    assert webhook(deployment, kind, form, tamper=True).status_code == 403


def test_plain_http_is_redirected_to_https(deployment: Deployment) -> None:
    path = f"/webhooks/plivo/{PLIVO_ID}/answer?x=1"
    reply = httpx.post(deployment.http + path, trust_env=False, timeout=10)
    assert reply.status_code in (301, 308)
    assert reply.headers["location"] == f"https://127.0.0.1{path}"


def guess(client: httpx.Client, forwarded_for: str | None = None) -> int:
    """A wrong token, naming ``forwarded_for`` as the client; the status."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    path = f"/v1/Account/{PLIVO_ID}/Masking/Session/"
    return client.get(path, auth=(PLIVO_ID, "guess"), headers=headers).status_code


def test_the_client_maskline_sees_is_the_one_that_connected(deployment: Deployment) -> None:
    with deployment.client("127.0.0.2") as client:
        statuses = [guess(client, f"203.0.113.{i}") for i in range(FAILURES_PER_MINUTE + 1)]
    # However many names it gives itself, 127.0.0.2 is one client, and it is the one limited.
    assert statuses == [401] * FAILURES_PER_MINUTE + [429]
    with deployment.client("127.0.0.3") as client:
        assert guess(client) == 401
        # Naming the limited client does not make 127.0.0.3 that client.
        assert guess(client, "127.0.0.2") == 401


def test_operator_endpoints_are_not_served_to_the_outside(deployment: Deployment) -> None:
    assert httpx.get(f"{deployment.direct}/metrics", trust_env=False, timeout=10).status_code == 200
    for source in ("127.0.0.1", "127.0.0.2"):
        with deployment.client(source) as client:
            assert client.get("/metrics").status_code == 403
            assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403
            assert client.post("/sip/event", content=b"{}").status_code == 403
            assert client.get("/healthz").status_code == 200


def test_nginx_refuses_a_body_over_maskline_limit(deployment: Deployment) -> None:
    path = f"/v1/Account/{PLIVO_ID}/Masking/Session/"
    with deployment.client() as client:
        refused = client.post(path, auth=(PLIVO_ID, TOKEN), content=b"x" * (64 * 1024 + 1),
                              headers={"Content-Type": "application/json"})  # fmt: skip
        assert refused.status_code == 413
        assert "nginx" in refused.text  # nginx's own page: maskline answers its errors in JSON
        # A body of exactly the limit reaches maskline (which refuses it as JSON, not as too big).
        passed = client.post(path, auth=(PLIVO_ID, TOKEN), content=b" " * (64 * 1024),
                             headers={"Content-Type": "application/json"})  # fmt: skip
        assert passed.status_code == 400 and passed.headers["content-type"].startswith("application/json")


def test_the_shipped_site_is_valid_as_an_operator_installs_it(deployment: Deployment) -> None:
    """Only the certificate paths edited: ports 80 and 443 on IPv4 and IPv6 (``nginx -t`` binds
    nothing)."""
    site = deployment.folder / "as-shipped.conf"
    site.write_text(with_certificate(SITE.read_text(), deployment.cert, deployment.key))
    config = deployment.folder / "as-shipped-nginx.conf"
    config.write_text(main_config(deployment.folder, site).replace("nginx.pid", "as-shipped.pid"))
    log = deployment.folder / "as-shipped-error.log"
    command = [NGINX, "-t", "-p", str(deployment.folder), "-e", str(log), "-c", str(config)]
    checked = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


CAP = 256  # limit_conn in the site


def test_each_client_address_is_capped_by_nginx(deployment: Deployment) -> None:
    """maskline does not cap its trusted proxy, so nginx caps each client address: CAP requests
    in progress (heads sent, bodies still coming) from one address, and its next is refused
    while another address is served."""
    port = int(deployment.https.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(deployment.cert))
    head = (
        f"POST /v1/Account/{PLIVO_ID}/Masking/Session/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    ).encode()
    held: list[ssl.SSLSocket] = []

    def next_status(source: str) -> int:
        with deployment.client(source) as client:
            return client.get("/healthz").status_code

    try:
        for _ in range(CAP):
            raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.4", 0))
            held.append(context.wrap_socket(raw, server_hostname="127.0.0.1"))
            held[-1].sendall(head)
        # nginx counts a request once it has read its head: give the last heads a moment.
        for _ in range(50):
            if (status := next_status("127.0.0.4")) == 429:
                break
            time.sleep(0.1)
        assert status == 429
        assert next_status("127.0.0.5") == 200
    finally:
        for connection in held:
            connection.close()
    for _ in range(50):
        if (status := next_status("127.0.0.4")) == 200:
            break
        time.sleep(0.1)
    assert status == 200  # the cap counts requests in progress, not an address for ever
