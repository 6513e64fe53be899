"""`make dev` without a Docker engine runs the stack natively, a second `make dev` reuses its
data, and `make dev-down` leaves no process running."""
import http.client
import json
import os
import pathlib
import socket
import ssl
import subprocess
import tempfile
import uuid

import pytest

from conftest import ROOT


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_make_dev_then_dev_down_on_a_machine_without_docker():
    if subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        pytest.skip("a Docker engine is running: `make dev` would use Compose")
    bin_dir = os.environ.get("SERVICE_BIN_DIR") or pytest.fail("SERVICE_BIN_DIR is not set: run through `make test`")
    data = pathlib.Path(tempfile.mkdtemp(prefix="connectors-dev-"))
    data.chmod(0o755)  # PostgreSQL runs as its own user and must reach its folder
    ports = {name: free_port() for name in ("DEV_HTTPS_PORT", "DEV_HTTP_PORT", "DEV_DASHBOARD_PORT", "DEV_AUTH_PORT",
                                            "DEV_CONNECTORS_PORT", "LOCAL_PG_PORT", "LOCAL_REDIS_PORT")}
    env = {**os.environ, "DEV_DATA": str(data), "DEV_BIN_DIR": bin_dir, **{k: str(v) for k, v in ports.items()}}
    for name in ("DATABASE_URL", "REDIS_URL", "PUBLIC_URL"):
        env.pop(name, None)

    def make(target):
        result = subprocess.run(["make", "-s", target], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"make {target} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def request(method, path, body=None, headers=None):
        context = ssl.create_default_context(cafile=str(data / "certs/localhost.crt"))
        # Roomy: a sign-up or sign-in hashes a password, slow on a loaded machine.
        connection = http.client.HTTPSConnection("localhost", ports["DEV_HTTPS_PORT"], context=context, timeout=60)
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()

    origin = {"Origin": f"https://localhost:{ports['DEV_HTTPS_PORT']}", "Content-Type": "application/json"}
    credentials = {"email": f"dev-{uuid.uuid4().hex[:8]}@example.com", "password": "dev-password-1"}
    try:
        printed = make("dev")
        assert f"https://localhost:{ports['DEV_HTTPS_PORT']}" in printed
        status, body = request("POST", "/api/auth/sign-up/email", json.dumps({"name": "Dev", **credentials}), origin)
        assert status == 200, body
        make("dev-down")
        # A second `make dev` keeps the data: the user can sign in again.
        make("dev")
        status, body = request("POST", "/api/auth/sign-in/email", json.dumps(credentials), origin)
        assert status == 200, body
    finally:
        make("dev-down")
    for name, port in ports.items():
        assert not listening(port), f"{name} {port} is still listening after make dev-down"
    leftovers = subprocess.run(["pgrep", "-f", str(data)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], f"processes still running from {data}: {leftovers}"
