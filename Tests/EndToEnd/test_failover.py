"""Two replicas of each service behind the real Traefik, one PostgreSQL, one Redis, under a
steady load of sign-ins, `/api/auth/token`, `GET /oauth/connections` and signed Slack events:
one connectors replica is killed (SIGKILL) mid-load and restarted, then each auth replica is
restarted in turn, as a rolling update would. Afterwards every event that was acknowledged is
stored once and handled, a JWT from either auth replica is accepted by either connectors
replica, the per-user rate limit is one limit whichever replica counts, and the errors seen
during the faults are few and stop once Traefik's health checks have caught up.

The figures (requests, errors by phase, events) are printed and written to failover.json in
the test's folder."""
import hashlib
import hmac
import http.client
import json
import os
import pathlib
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest

from conftest import ROOT, SECRETS, free_port, required

USER_RATE_LIMIT = 40  # per 10 s; the load stays well under it


class ReplicatedStack:
    def __init__(self, workdir):
        self.workdir = workdir
        self.https_port, self.http_port, self.ping_port = free_port(), free_port(), free_port()
        self.public = f"https://localhost:{self.https_port}"
        self.ports = {"auth-1": free_port(), "auth-2": free_port(), "connectors-1": free_port(),
                      "connectors-2": free_port()}
        self.processes = {}
        self.bin_dir = pathlib.Path(required("SERVICE_BIN_DIR"))

    def start(self):
        admin = required("TEST_DATABASE_URL")
        database = "e2e_" + uuid.uuid4().hex[:12]
        subprocess.run(["psql", admin, "-q", "-c", f'CREATE DATABASE "{database}"'], check=True)
        self.env = {"PATH": os.environ["PATH"], "DATABASE_URL": admin.rsplit("/", 1)[0] + "/" + database,
                    "REDIS_URL": required("TEST_REDIS_URL"), "PUBLIC_URL": self.public, "BIND_HOST": "127.0.0.1",
                    "LOG_LEVEL": "warning", "USER_RATE_LIMIT": str(USER_RATE_LIMIT), "DATABASE_POOL_SIZE": "5",
                    **SECRETS}
        subprocess.run([self.bin_dir / "AuthService", "migrate"], env=self.env, check=True, capture_output=True)
        for name in self.ports:
            self.start_replica(name)
        certs = subprocess.run([ROOT / "scripts/dev-cert.sh", self.workdir / "certs"], check=True,
                               capture_output=True, text=True).stdout.strip()
        self.cafile = f"{certs}/localhost.crt"
        # Production's routing, with two servers per service and health checks every 2 seconds.
        routes = (ROOT / "deploy/traefik/dynamic/routes.yml").read_text()
        for service, upstream in (("auth", "AUTH_UPSTREAM"), ("connectors", "CONNECTORS_UPSTREAM")):
            one = f"          - url: '{{{{ env \"{upstream}\" }}}}'\n"
            assert one in routes
            routes = routes.replace(one, "".join(
                f"          - url: 'http://127.0.0.1:{self.ports[f'{service}-{n}']}'\n" for n in (1, 2)))
        routes = routes.replace("interval: 10s", "interval: 2s").replace("timeout: 3s", "timeout: 2s")
        (self.workdir / "routes.yml").write_text(routes)
        log = open(self.workdir / "traefik.log", "w")
        self.processes["traefik"] = subprocess.Popen([
            str(pathlib.Path(sys.executable).parent / "traefik"),
            f"--entrypoints.web.address=127.0.0.1:{self.http_port}",
            f"--entrypoints.websecure.address=127.0.0.1:{self.https_port}",
            "--entrypoints.websecure.forwardedheaders.trustedips=127.0.0.1/32",
            f"--entrypoints.traefik.address=127.0.0.1:{self.ping_port}",
            f"--providers.file.filename={self.workdir / 'routes.yml'}", "--ping=true", "--log.level=ERROR",
        ], env={"PATH": os.environ["PATH"], "TLS_CERT_FILE": f"{certs}/localhost.crt",
                "TLS_KEY_FILE": f"{certs}/localhost.key"}, stdout=log, stderr=log)
        self.wait_until("Traefik routes to both services", lambda: self.request("GET", "/api/auth/ok")[0] == 200
                        and self.request("GET", "/oauth/connections")[0] == 401)
        # Both servers of each service healthy in Traefik's eyes before the load starts.
        time.sleep(2)

    def start_replica(self, name):
        service, _ = name.split("-")
        port = self.ports[name]
        env = dict(self.env)
        if service == "auth":
            env["AUTH_PORT"] = str(port)
            binary = "AuthService"
        else:
            env["CONNECTORS_PORT"] = str(port)
            # Each connectors replica reads the keys from one auth replica (they publish the
            # same keys, from PostgreSQL) and keeps them through that replica's restart.
            env["AUTH_JWKS_URL"] = f"http://127.0.0.1:{self.ports['auth-' + name[-1]]}/.well-known/jwks.json"
            binary = "ConnectorsService"
        log = open(self.workdir / f"{name}.log", "a")
        self.processes[name] = subprocess.Popen([str(self.bin_dir / binary)], env=env, cwd=self.workdir, stdout=log,
                                                stderr=log)
        self.wait_until(f"{name} healthy", lambda: self.direct(name, "GET", "/health")[0] == 200)

    def stop_replica(self, name, sig):
        process = self.processes[name]
        process.send_signal(sig)
        process.wait(timeout=90)

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    def wait_until(self, what, check, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if check():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"{what}: not within {timeout} s; logs in {self.workdir}")

    def request(self, method, path, body=None, headers=None):
        """Through Traefik, over HTTPS."""
        return exchange(http.client.HTTPSConnection("localhost", self.https_port, timeout=60,
                                                    context=ssl.create_default_context(cafile=self.cafile)),
                        method, path, body, headers)

    def direct(self, name, method, path, body=None, headers=None):
        """At one replica's own port."""
        return exchange(http.client.HTTPConnection("127.0.0.1", self.ports[name], timeout=60), method, path, body,
                        headers)

    def sql(self, query):
        result = subprocess.run(["psql", self.env["DATABASE_URL"], "-At", "-c", query], check=True,
                                capture_output=True, text=True)
        return result.stdout.strip()


def exchange(connection, method, path, body, headers):
    """One request on a fresh connection: (status, headers, body)."""
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def stack():
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="connectors-failover-"))
    stack = ReplicatedStack(workdir)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def somewhere():
    """A client address of its own (the per-IP limits on signing in are not what is tested)."""
    return {"X-Forwarded-For": f"198.51.100.{uuid.uuid4().int % 250 + 1}"}


def sign_up(stack, via=None):
    body = json.dumps({"name": "Failover", "email": f"f-{uuid.uuid4().hex[:10]}@example.com",
                       "password": "failover-password-1"})
    headers = {"Origin": stack.public, "Content-Type": "application/json", **somewhere()}
    status, response, data = (stack.direct(via, "POST", "/api/auth/sign-up/email", body, headers) if via
                              else stack.request("POST", "/api/auth/sign-up/email", body, headers))
    assert status == 200, data
    return json.loads(body)["email"], response.get_all("Set-Cookie")[0].split(";")[0]


def jwt_from(stack, cookie, via=None):
    status, _, data = (stack.direct(via, "GET", "/api/auth/token", headers={"Cookie": cookie}) if via
                       else stack.request("GET", "/api/auth/token", headers={"Cookie": cookie}))
    assert status == 200, data
    return json.loads(data)["token"]


def slack_event(event_id):
    body = json.dumps({"type": "event_callback", "team_id": "T0FAILOVER", "event_id": event_id,
                       "event": {"type": "tokens_revoked", "tokens": {"bot": ["B1"]}}})
    timestamp = str(int(time.time()))
    signature = "v0=" + hmac.new(SECRETS["SLACK_SIGNING_SECRET"].encode(), f"v0:{timestamp}:{body}".encode(),
                                 hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp,
                  "X-Slack-Signature": signature}


class Load:
    """Threads sending one kind of request each, in a loop, recording (time, kind, status)."""

    def __init__(self, stack, email, cookie, jwt):
        self.stack, self.email, self.cookie, self.jwt = stack, email, cookie, jwt
        self.results, self.acked = [], []
        self.lock = threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=self.loop, args=(kind, pause), daemon=True) for kind, pause in
                        (("sign-in", 0.5), ("token", 0.1), ("list", 0.3), ("slack", 0.05), ("slack", 0.05))]

    def one(self, kind):
        if kind == "sign-in":
            body = json.dumps({"email": self.email, "password": "failover-password-1"})
            return self.stack.request("POST", "/api/auth/sign-in/email", body, {
                "Origin": self.stack.public, "Content-Type": "application/json", **somewhere()})[0], None
        if kind == "token":
            return self.stack.request("GET", "/api/auth/token", headers={"Cookie": self.cookie})[0], None
        if kind == "list":
            return self.stack.request("GET", "/oauth/connections",
                                      headers={"Authorization": f"Bearer {self.jwt}"})[0], None
        event_id = "EvF" + uuid.uuid4().hex[:12]
        body, headers = slack_event(event_id)
        return self.stack.request("POST", "/slack/events", body, headers)[0], event_id

    def loop(self, kind, pause):
        while self.running:
            try:
                status, event_id = self.one(kind)
            except (OSError, http.client.HTTPException):
                status, event_id = None, None
            with self.lock:
                self.results.append((time.monotonic(), kind, status))
                if event_id and status == 200:
                    self.acked.append(event_id)
            time.sleep(pause)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_):
        self.running = False
        for thread in self.threads:
            thread.join(timeout=120)

    def errors(self, since=0.0, until=float("inf")):
        return [(t, kind, status) for t, kind, status in self.results
                if since <= t < until and (status is None or status >= 500 or status in (401, 429))]


def test_replicas_fail_over_without_losing_or_repeating_work(stack):
    email, cookie = sign_up(stack)
    jwt = jwt_from(stack, cookie)
    phases = {}
    with Load(stack, email, cookie, jwt) as load:
        time.sleep(5)
        phases["kill connectors-1"] = time.monotonic()
        stack.stop_replica("connectors-1", signal.SIGKILL)
        time.sleep(3)
        stack.start_replica("connectors-1")
        phases["restart auth-1"] = time.monotonic()
        stack.stop_replica("auth-1", signal.SIGTERM)
        stack.start_replica("auth-1")
        phases["restart auth-2"] = time.monotonic()
        stack.stop_replica("auth-2", signal.SIGTERM)
        stack.start_replica("auth-2")
        phases["settled"] = time.monotonic() + 5  # Traefik's health checks have caught up
        time.sleep(10)
        phases["end"] = time.monotonic()

    # Every acknowledged event is stored once and handled (the killed replica's claims come back
    # once their 60-second lease lapses).
    stack.wait_until("every stored event handled",
                     lambda: stack.sql("""SELECT count(*) FROM "webhookEvent" WHERE "status" NOT IN ('done')""") == "0",
                     timeout=180)
    keys = stack.sql("""SELECT "deliveryKey" FROM "webhookEvent" ORDER BY 1""").split("\n")
    assert len(keys) == len(set(keys))
    assert set(load.acked) <= set(keys), "an acknowledged event was lost"
    retried = int(stack.sql("""SELECT count(*) FROM "webhookEvent" WHERE "attempts" > 1"""))

    requests = len(load.results)
    errors = load.errors()
    late = load.errors(since=phases["settled"], until=phases["end"])
    by_phase = {}
    names = list(phases)
    for start, end in zip(names, names[1:]):
        by_phase[start] = len(load.errors(phases[start], phases[end]))
    figures = {"requests": requests, "errors": len(errors), "errors by phase": by_phase,
               "errors by kind": {kind: sum(1 for _, k, _ in errors if k == kind)
                                  for kind in ("sign-in", "token", "list", "slack")},
               "error statuses": sorted({str(status) for _, _, status in errors}),
               "events acknowledged": len(load.acked), "events stored": len(keys),
               "events handled more than once (at-least-once, idempotent)": retried}
    (stack.workdir / "failover.json").write_text(json.dumps(figures, indent=2))
    print("failover:", json.dumps(figures), flush=True)
    assert requests > 200
    # Bounded: requests in flight at the killed or stopping replica, or sent to it before the
    # next health check (2 s) took it out — a few seconds' worth, for half the requests at
    # most — and none once the checks caught up.
    assert len(errors) <= max(20, requests // 10), figures
    assert late == [], late
    # No refusal of a valid JWT or a rate limit during the load: only the faults themselves.
    assert not [status for _, _, status in errors if status in (401, 429)], figures


def test_a_jwt_from_either_auth_replica_is_accepted_by_either_connectors_replica(stack):
    _, cookie = sign_up(stack, via="auth-1")
    for auth in ("auth-1", "auth-2"):
        jwt = jwt_from(stack, cookie, via=auth)
        for connectors in ("connectors-1", "connectors-2"):
            status, _, data = stack.direct(connectors, "GET", "/oauth/connections",
                                           headers={"Authorization": f"Bearer {jwt}"})
            assert status == 200, (auth, connectors, data)


def test_the_per_user_rate_limit_is_one_limit_across_replicas(stack):
    _, cookie = sign_up(stack)
    headers = {"Authorization": f"Bearer {jwt_from(stack, cookie)}"}
    # Spend the user's window at one replica, then ask the other. (A window that rolls over
    # meanwhile, on a slow machine, starts the attempt again.)
    for _ in range(3):
        for _ in range(USER_RATE_LIMIT + 1):
            status, response, _ = stack.direct("connectors-1", "GET", "/oauth/connections", headers=headers)
            if status == 429 or response["RateLimit-Remaining"] == "0":
                break
        status, response, data = stack.direct("connectors-2", "GET", "/oauth/connections", headers=headers)
        if status == 429:
            assert json.loads(data)["code"] == "TOO_MANY_REQUESTS"
            return
    pytest.fail("connectors-2 did not refuse a user whose limit was spent at connectors-1")
