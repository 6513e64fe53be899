"""Shared helpers for the deploy and console tests (run by `make test` with the venv's pytest):
the stack behind the real Traefik, and the variables each service reads."""
import http.client
import os
import pathlib
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

CONFIG_FILES = {
    "common": ["Sources/Shared/Config/CommonConfig.swift", "Sources/Shared/Config/DatabaseURL.swift", "Sources/Shared/Config/RedisURL.swift"],
    "auth": ["Sources/AuthService/AuthConfig.swift"],
    "connectors": ["Sources/ConnectorsService/ConnectorsConfig.swift"],
}


def variables_read(service):
    """Every environment variable a service's configuration reads (names in its config code)."""
    names = set()
    for part in ("common", service):
        for path in CONFIG_FILES[part]:
            names |= set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', (ROOT / path).read_text()))
    return names


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

    def __init__(self, workdir, extra_env=None):
        self.workdir = workdir
        self.extra_env = extra_env or {}
        self.processes = []
        self.https_port, self.http_port, self.ping_port = free_port(), free_port(), free_port()
        self.public = f"https://localhost:{self.https_port}"

    def start(self):
        bin_dir = pathlib.Path(required("SERVICE_BIN_DIR"))
        admin = required("TEST_DATABASE_URL")
        database = "e2e_" + uuid.uuid4().hex[:12]
        subprocess.run(["psql", admin, "-q", "-c", f'CREATE DATABASE "{database}"'], check=True)
        database_url = admin.rsplit("/", 1)[0] + "/" + database
        self.database_url = database_url
        auth_port, connectors_port = free_port(), free_port()
        env = {"PATH": os.environ["PATH"], "DATABASE_URL": database_url, "REDIS_URL": required("TEST_REDIS_URL"),
               "PUBLIC_URL": self.public, "BIND_HOST": "127.0.0.1", "LOG_LEVEL": "warning", **SECRETS, **self.extra_env}
        self.auth_port, self.connectors_port = auth_port, connectors_port
        subprocess.run([bin_dir / "AuthService", "migrate"], env=env, cwd=self.service_dir(), check=True, capture_output=True,
                       **self.unprivileged())
        self.spawn("auth", [bin_dir / "AuthService"], {**env, "AUTH_PORT": str(auth_port)}, service=True)
        self.spawn("connectors", [bin_dir / "ConnectorsService"], {
            **env, "CONNECTORS_PORT": str(connectors_port),
            "AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json"}, service=True)
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
            # As the Compose files and `make dev` run it.
            "--accesslog=true", f"--accesslog.filepath={self.workdir / 'access.log'}",
            "--accesslog.fields.names.RequestPath=drop",
        ], {"PATH": os.environ["PATH"], "AUTH_UPSTREAM": f"http://127.0.0.1:{auth_port}",
            "CONNECTORS_UPSTREAM": f"http://127.0.0.1:{connectors_port}",
            "TLS_CERT_FILE": f"{certs}/localhost.crt", "TLS_KEY_FILE": f"{certs}/localhost.key"})
        # Roomy: two debug builds and Traefik starting beside other work on a busy machine.
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if self.request("GET", "/api/auth/ok")[0] == 200 and self.request("GET", "/oauth/connections")[0] == 401:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail("the stack did not come up through Traefik; logs in " + str(self.workdir))

    # Production runs the services as a non-root user (the image's `USER app`); so do these
    # tests when they run as root, so faults that show only there (a socket option only root
    # may set) cannot pass unseen.
    UNPRIVILEGED_ID = 65534

    def unprivileged(self):
        if os.geteuid() != 0:
            return {}
        return {"user": self.UNPRIVILEGED_ID, "group": self.UNPRIVILEGED_ID, "extra_groups": []}

    def service_dir(self):
        """A working folder the unprivileged user can enter (pytest's own is private to root)."""
        if not hasattr(self, "_service_dir"):
            self._service_dir = pathlib.Path(tempfile.mkdtemp(prefix="e2e-svc-"))
            self._service_dir.chmod(0o755)
        return self._service_dir

    def spawn(self, name, command, env, service=False):
        log = open(self.workdir / f"{name}.log", "w")
        extra = self.unprivileged() if service else {}
        cwd = self.service_dir() if service else self.workdir
        self.processes.append(subprocess.Popen([str(part) for part in command], env=env, cwd=cwd, stdout=log, stderr=log, **extra))

    def service_pids(self):
        """The auth and connectors processes (spawned first, in that order)."""
        return [process.pid for process in self.processes[:2]]

    def stop(self):
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if hasattr(self, "_service_dir"):
            shutil.rmtree(self._service_dir, ignore_errors=True)

    def request(self, method, path, body=None, headers=None):
        context = ssl.create_default_context(cafile=self.cafile)
        # Roomy: a sign-up hashes a password, which a loaded machine can stretch to many seconds.
        connection = http.client.HTTPSConnection("localhost", self.https_port, context=context, timeout=60)
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, response.headers, data
