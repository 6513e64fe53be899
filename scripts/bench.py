#!/usr/bin/env python3
"""Benchmarks the release builds with wrk on loopback and prints a Markdown table.

Run through `make bench`, which builds release binaries and starts throwaway PostgreSQL and
Redis (DATABASE_URL / REDIS_URL). Each scenario: a fresh warm-up, then a bounded wrk run;
requests/s, p50 and p99 latency from wrk, peak RSS of the service from /proc (VmHWM, reset
before each scenario). Every figure is also given as a ratio to the GET /health ceiling
measured in the same run, since absolute numbers differ between machines.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRETS = {
    "BETTER_AUTH_SECRET": "bench-better-auth-secret-0123456789abcdef",
    "JWT_SECRET": "bench-jwt-secret-fedcba9876543210-connectors",
    "ENCRYPTION_KEY": "0123456789abcdef0123456789abcdef",
}

# wrk scripts: every request from its own client address (loopback is a trusted proxy), so
# per-IP rate limits measure the route, not the limiter. {extra} adds method, body, headers.
WRK_SCRIPT = """
math.randomseed(os.time())
{extra}
request = function()
  wrk.headers["X-Forwarded-For"] = "198.18." .. math.random(0, 255) .. "." .. math.random(1, 254)
  return wrk.format(nil)
end
"""

# (service, port variable, method, path, note)
SCENARIOS = [
    ("AuthService", "AUTH_PORT", "GET", "/health", "framework ceiling: no I/O"),
    ("AuthService", "AUTH_PORT", "GET", "/ready", "PostgreSQL SELECT 1 + Redis PING"),
    ("ConnectorsService", "CONNECTORS_PORT", "GET", "/health", "framework ceiling: no I/O"),
    ("ConnectorsService", "CONNECTORS_PORT", "GET", "/ready", "PostgreSQL SELECT 1 + Redis PING"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def to_ms(value):
    match = re.match(r"([\d.]+)(us|ms|s)", value)
    number, unit = float(match.group(1)), match.group(2)
    return {"us": number / 1000, "ms": number, "s": number * 1000}[unit]


def run_wrk(url, seconds, connections, threads, script=None, script_args=()):
    return parse_wrk(wrk_output(url, seconds, connections, threads, script, script_args))


def wrk_output(url, seconds, connections, threads, script=None, script_args=()):
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script:
        command += ["-s", script]
    return subprocess.run(command + [url, *(["--", *script_args] if script_args else [])],
                          capture_output=True, text=True, check=True).stdout


def parse_wrk(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return rps, p50, p99, int(errors.group(1)) if errors else 0, socket_errors.group(1) if socket_errors else ""


def status_mb(pid, field):
    """A memory figure from /proc/<pid>/status, in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb(pid):
    return status_mb(pid, "VmHWM")


def rss_mb(pid):
    """Resident memory now."""
    return status_mb(pid, "VmRSS")


# The targets, filled in as the scenarios measure them: (what, target, measured, met).
TARGETS = []


def target(what, goal, measured, met):
    TARGETS.append((what, goal, measured, met))


def reset_peak_rss(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def cpu_seconds(pid=None):
    """CPU time used so far: by one process (user + system), or by the whole machine (busy, not idle)."""
    if pid is not None:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def start_service(bin_dir, name, port_variable, workdir, extra_env=None):
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        port_variable: str(port),
        "BIND_HOST": "127.0.0.1",
        "LOG_LEVEL": "info",
        **SECRETS,
        **(extra_env or {}),
    }
    log = open(os.path.join(workdir, f"{name}.log"), "w")
    process = subprocess.Popen([os.path.join(bin_dir, name)], env=env, cwd=workdir, stdout=log, stderr=log)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
                if r.status == 200:
                    return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    sys.exit(f"{name} did not become ready; see {log.name}")


def write_script(workdir, name, extra=""):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(WRK_SCRIPT.replace("{extra}", extra))
    return path


def sign_up(port, email, password):
    body = json.dumps({"name": "Bench", "email": email, "password": password}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/auth/sign-up/email", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        cookie = response.headers.get_all("Set-Cookie")[0].split(";")[0]
        return cookie


def measure(rows, process, service, scenario, note, url, args, script=None, connections=None, cpu=None):
    """One wrk scenario; `cpu`, when given, receives the service's and the machine's CPU seconds per request."""
    connections = connections or args.connections
    run_wrk(url, args.warmup, connections, args.threads, script)
    reset_peak_rss(process.pid)
    service_before, machine_before = cpu_seconds(process.pid), cpu_seconds()
    rps, p50, p99, non2xx, socket_errors = run_wrk(url, args.seconds, connections, args.threads, script)
    if cpu is not None:
        requests = rps * args.seconds
        cpu["service"] = (cpu_seconds(process.pid) - service_before) / requests
        cpu["machine"] = (cpu_seconds() - machine_before) / requests
    rows.append((service, scenario, note, rps, p50, p99, peak_rss_mb(process.pid), non2xx, socket_errors))
    print(f"  {service} {scenario}: {rps:,.0f} req/s", file=sys.stderr)
    return rps


def raw_rsa_rate(args):
    """Raw RSA-2048 signs per second on every core (`AuthService bench-rsa`)."""
    out = subprocess.run([os.path.join(args.bin_dir, "AuthService"), "bench-rsa", "--seconds", "3"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["signsPerSecond"]


def auth_scenarios(args, running, rows, workdir):
    """JWKS, /token against raw RSA signing, get-session while 32 clients sign in."""
    process, port = running
    base = f"http://127.0.0.1:{port}"
    cookie = sign_up(port, "bench@example.com", "bench-password-1")
    header = f'wrk.headers["Cookie"] = "{cookie}"'

    measure(rows, process, "AuthService", "GET /.well-known/jwks.json", "JWKS from memory", f"{base}/.well-known/jwks.json", args)
    # This machine's signing speed drifts between runs; measure it right before and after /token.
    raw_before = raw_rsa_rate(args)
    token_cpu = {}
    token_rps = measure(rows, process, "AuthService", "GET /api/auth/token", "session lookup + RS256 sign",
                        f"{base}/api/auth/token", args, write_script(workdir, "token.lua", header), cpu=token_cpu)
    raw = (raw_before + raw_rsa_rate(args)) / 2
    measure(rows, process, "AuthService", "GET /api/auth/get-session", "session lookup, reused JWT",
            f"{base}/api/auth/get-session", args, write_script(workdir, "session.lua", header))

    # get-session while 32 other clients sign in continuously (scrypt on the blocking pool).
    sign_in = write_script(workdir, "signin.lua", 'wrk.method = "POST"\n'
                           'wrk.body = \'{"email":"bench@example.com","password":"bench-password-1"}\'\n'
                           'wrk.headers["Content-Type"] = "application/json"')
    load = subprocess.Popen(["wrk", "-t1", "-c32", f"-d{args.seconds + 2}s", "--latency", "--timeout", "10s", "-s", sign_in,
                             f"{base}/api/auth/sign-in/email"], stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    reset_peak_rss(process.pid)
    rps, p50, p99, non2xx, socket_errors = run_wrk(f"{base}/api/auth/get-session", args.seconds, 8, 1,
                                                   write_script(workdir, "session2.lua", header))
    sign_in_out = load.communicate()[0]
    sign_ins = float(re.search(r"Requests/sec:\s+([\d.]+)", sign_in_out).group(1))
    rows.append(("AuthService", "GET /api/auth/get-session under sign-in load",
                 f"8 clients, while 32 sign in ({sign_ins:,.0f} sign-ins/s)", rps, p50, p99, peak_rss_mb(process.pid), non2xx, socket_errors))
    print(f"  get-session under sign-in load: p99 {p99:.2f} ms", file=sys.stderr)

    target("`/api/auth/token` ÷ raw swift-crypto signing", "≥ 0.75", f"{token_rps / raw:.2f}", token_rps / raw >= 0.75)
    target("`get-session` p99 while 32 clients sign in", "< 25 ms", f"{p99:.2f} ms", p99 < 25)

    openssl = subprocess.run(["openssl", "speed", "-seconds", "3", "-multi", str(os.cpu_count()), "rsa2048"],
                             capture_output=True, text=True).stdout
    match = re.search(r"rsa 2048 bits\s+\S+\s+\S+\s+([\d.]+)", openssl)
    openssl_rate = float(match.group(1)) if match else float("nan")
    return [
        "Signing: raw RSA-2048 PKCS#1 v1.5 signatures per second on every core, measured in the same run.",
        "",
        "| what | signs/s | `/api/auth/token` ÷ it |",
        "|---|---:|---:|",
        f"| swift-crypto (BoringSSL), `AuthService bench-rsa` (mean of runs just before and after) | {raw:,.0f} | {token_rps / raw:.2f} |",
        f"| OpenSSL, `openssl speed -multi {os.cpu_count()} rsa2048` | {openssl_rate:,.0f} | {token_rps / openssl_rate:.2f} |",
        "",
        # Where a /token request's CPU goes: the signature (a raw sign's CPU), the service's other
        # work, and the rest of the machine (wrk and Redis share these cores).
        f"CPU per `/token` request: {token_cpu['machine'] * 1e6:,.0f} µs on the whole machine — the service "
        f"{token_cpu['service'] * 1e6:,.0f} µs, of which a raw signature is {os.cpu_count() / raw * 1e6:,.0f} µs "
        f"(signature ÷ the service's CPU: {os.cpu_count() / raw / token_cpu['service']:.2f}); wrk, Redis and the "
        f"kernel outside the service {(token_cpu['machine'] - token_cpu['service']) * 1e6:,.0f} µs.",
    ]


def prometheus_value(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def signed_up_user(running, email, verified=False):
    """A new user at the bench auth service: (user id, a JWT for the connectors service).
    `verified`: the email is marked verified before the JWT is made (what SLACK_BOT_USERS needs)."""
    auth_port = running["AuthService"][1]
    cookie = sign_up(auth_port, email, "bench-password-1")
    if verified:
        psql_value(f"UPDATE \"user\" SET \"emailVerified\" = true WHERE \"email\" = '{email}'")
    request = urllib.request.Request(f"http://127.0.0.1:{auth_port}/api/auth/get-session", headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["user"]["id"], response.headers["set-auth-jwt"]


def connectors_scenarios(args, running, rows, workdir, connectors_env):
    """GET /oauth/connections with a JWT from the auth service: verify + limit + the list, from
    memory while unchanged; then the same against a replica with the list cache off (the query
    and JSON encoding on every request, as right after a change)."""
    process, port = running["ConnectorsService"]
    user_id, jwt = signed_up_user(running, "bench-connectors@example.com")
    running["connections-user"] = (user_id, jwt)
    # Three connections to list (their sealed tokens are never opened by this route).
    values = ", ".join(f"('bench-{user_id}-{provider}', '{user_id}', '{provider}', 'acct-{provider}', 'Bench', '{{read}}', 'v1.none.AAAA')"
                       for provider in ("linear", "github", "slack"))
    subprocess.run(["psql", os.environ["DATABASE_URL"], "-q", "-c",
                    f'INSERT INTO "connection" ("id", "userId", "provider", "accountId", "accountName", "scopes", "accessToken") VALUES {values}'],
                   check=True)
    fetches_before = prometheus_value(port, "jwks_fetches_total")
    started = time.time()
    script = write_script(workdir, "connections.lua", f'wrk.headers["Authorization"] = "Bearer {jwt}"')
    measure(rows, process, "ConnectorsService", "GET /oauth/connections",
            "JWT verify (cached) + per-user rate limit and list validator in one Redis round trip; list from memory",
            f"http://127.0.0.1:{port}/oauth/connections", args, script, connections=64)
    fetches = prometheus_value(port, "jwks_fetches_total") - fetches_before
    uncached, uncached_port = start_service(args.bin_dir, "ConnectorsService", "CONNECTORS_PORT", workdir,
                                            {**connectors_env, "CONNECTION_LIST_CACHE_SECONDS": "0"})
    try:
        measure(rows, uncached, "ConnectorsService", "GET /oauth/connections, list cache off",
                "JWT verify + per-user rate limit + one indexed query + JSON", f"http://127.0.0.1:{uncached_port}/oauth/connections",
                args, script, connections=64)
    finally:
        uncached.terminate()
        uncached.wait(timeout=15)
    return [
        "",
        f"JWKS fetches by the connectors service during the {time.time() - started:.0f} s `/oauth/connections` run "
        f"(64 connections): {fetches:.0f} (its cache period is 300 s).",
    ]


# Replays pre-signed Slack deliveries (HMAC in Lua would make wrk the bottleneck), each once,
# counting what it sent and what was answered 2xx so the rows can be checked afterwards.
SLACK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  prepared = {}
  for line in io.lines(args[1]) do
    local ts, sig, body = line:match("^(%d+)\\t([^\\t]+)\\t(.*)$")
    prepared[#prepared + 1] = wrk.format("POST", "/slack/events", {["Content-Type"] = "application/json",
      ["X-Slack-Request-Timestamp"] = ts, ["X-Slack-Signature"] = sig}, body)
  end
  issued, answered = 0, 0
end
function request()
  issued = issued + 1
  return prepared[((issued - 1) % #prepared) + 1]
end
function response(status, headers, body)
  if status >= 200 and status < 300 then answered = answered + 1 end
end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do io.write(string.format("BENCH issued=%d answered=%d\\n", t:get("issued"), t:get("answered"))) end
end
"""

SLACK_SIGNING_SECRET = "bench-slack-signing-secret"


def write_slack_script(workdir, name):
    """The replay script above, as a file wrk can load."""
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(SLACK_SCRIPT)
    return path


def signed_slack_events(path, prefix, count):
    """Writes `count` distinct, validly signed Slack event deliveries (timestamp, signature, body)."""
    now = int(time.time())
    with open(path, "w") as f:
        for n in range(count):
            body = json.dumps({
                "token": "unused", "team_id": "T0BENCH", "api_app_id": "A0BENCH", "type": "event_callback",
                "event_id": f"{prefix}{n}", "event_time": now,
                "event": {"type": "reaction_added", "user": "U0BENCH", "reaction": "thumbsup", "event_ts": f"{now}.{n:06d}",
                          "item": {"type": "message", "channel": "C0BENCH", "ts": f"{now}.000100"}},
                "authorizations": [{"team_id": "T0BENCH", "user_id": "U0BOT", "is_bot": True}],
            }, separators=(",", ":"))
            mac = hmac.new(SLACK_SIGNING_SECRET.encode(), f"v0:{now}:{body}".encode(), hashlib.sha256).hexdigest()
            f.write(f"{now}\tv0={mac}\t{body}\n")


def psql_value(query):
    return subprocess.run(["psql", os.environ["DATABASE_URL"], "-tAq", "-c", query], capture_output=True, text=True, check=True).stdout.strip()


class SlackIngest:
    """POST /slack/events at 64 senders (verify the signature, insert the event, answer), run in
    the anchor rounds beside the bare server. Every round replays deliveries never sent before:
    a warm-up file, then a measured file sized from the warm-up's rate, so no event is sent
    twice and every measured 2xx answer must be a stored row."""

    def __init__(self, workdir, port):
        self.url = f"http://127.0.0.1:{port}/slack/events"
        self.script = write_slack_script(workdir, "slack.lua")
        self.warm_file, self.file = os.path.join(workdir, "slack-warm.tsv"), os.path.join(workdir, "slack-events.tsv")
        self.rounds = 0
        self.issued = self.answered = 0

    def warm(self, seconds):
        self.rounds += 1
        signed_slack_events(self.warm_file, f"EvWARM{self.rounds}x", 25000 * seconds)
        out = wrk_output(self.url, seconds, 64, 1, self.script, [self.warm_file])
        return int(re.search(r"BENCH issued=(\d+)", out).group(1)) / seconds

    def measure(self, seconds, threads, rate):
        count = int(rate * seconds * 2) + 20000
        signed_slack_events(self.file, f"EvBENCH{self.rounds}x", count)
        out = wrk_output(self.url, seconds, 64, threads, self.script, [self.file])
        sent = re.search(r"BENCH issued=(\d+) answered=(\d+)", out)
        self.issued += min(int(sent.group(1)), count)
        self.answered += int(sent.group(2))
        return parse_wrk(out)

    def verdict(self):
        """Every 2xx answer a stored row (none lost); no row without a request, and none twice."""
        time.sleep(1)  # requests still in flight when wrk stopped
        stored = int(psql_value("SELECT count(*) FROM \"webhookEvent\" WHERE \"provider\" = 'slack' AND \"deliveryKey\" LIKE 'EvBENCH%'"))
        distinct = int(psql_value("SELECT count(DISTINCT \"deliveryKey\") FROM \"webhookEvent\" WHERE \"provider\" = 'slack' AND \"deliveryKey\" LIKE 'EvBENCH%'"))
        # Requests wrk cut off at the end of a round may or may not have been stored.
        verdict = "none lost or duplicated" if self.answered <= stored <= self.issued and distinct == stored else "MISMATCH"
        line = (f"Slack ingest rows over the {self.rounds} rounds: {self.issued} distinct deliveries sent, {self.answered} "
                f"answered 2xx, {stored} rows stored ({distinct} distinct): {verdict}.")
        if verdict != "none lost or duplicated":
            sys.exit(line)
        return line


class FakeClaudeAndSlack(BaseHTTPRequestHandler):
    """An instant Claude (3 tools over two turns, then an answer) and Slack's Web API, timing
    its own handling so the service's share of a run can be told apart."""
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's algorithm meets the
    # client's delayed ACK and every answer waits 40 ms.
    disable_nagle_algorithm = True
    handling = [0.0]
    requests = [0]

    def log_message(self, *args):
        pass

    def do_POST(self):
        started = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)) or 0)
        if self.path == "/v1/messages":
            turns = len(json.loads(body)["messages"])
            if turns == 1:
                content = [{"type": "tool_use", "id": "toolu_1", "name": "slack_list_channels", "input": {}},
                           {"type": "tool_use", "id": "toolu_2", "name": "slack_read_thread", "input": {"channel": "C1", "ts": "1.0"}}]
            elif turns == 3:
                content = [{"type": "tool_use", "id": "toolu_3", "name": "slack_post_message", "input": {"channel": "C1", "text": "hi"}}]
            else:
                content = [{"type": "text", "text": "Done."}]
            reply = {"id": "msg_bench", "type": "message", "role": "assistant", "content": content,
                     "stop_reason": "tool_use" if turns < 5 else "end_turn", "usage": {"input_tokens": 10, "output_tokens": 5}}
        elif self.path == "/slack/auth.test":
            reply = {"ok": True, "team_id": "T0BENCH", "team": "Bench"}
        elif self.path == "/slack/conversations.list":
            reply = {"ok": True, "channels": [{"id": "C1", "name": "general", "is_private": False, "is_member": True}]}
        elif self.path == "/slack/conversations.replies":
            reply = {"ok": True, "messages": [{"user": "U1", "text": "hello", "ts": "1.0"}]}
        else:
            reply = {"ok": True, "channel": "C1", "ts": "2.0"}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        FakeClaudeAndSlack.handling[0] += time.perf_counter() - started
        FakeClaudeAndSlack.requests[0] += 1


def start_agent_fake():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeClaudeAndSlack)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def agent_scenario(args, running, rows, workdir):
    """POST /agent/run, one at a time: a 3-tool run against an instant fake Claude and Slack."""
    process, port = running["ConnectorsService"]
    _, jwt = signed_up_user(running, "bench-agent@example.com", verified=True)
    base = f"http://127.0.0.1:{port}"
    bearer = {"Authorization": f"Bearer {jwt}"}
    # Connect the single-workspace Slack: start, the callback it points at, then link.
    with urllib.request.urlopen(urllib.request.Request(f"{base}/oauth/slack", headers=bearer), timeout=10) as response:
        callback = json.loads(response.read())["url"]
        # The flow is bound to this "browser" by a nonce cookie the callback must present.
        nonce = response.headers["Set-Cookie"].split(";", 1)[0]
    path = "/" + callback.split("://", 1)[1].split("/", 1)[1]

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None
    try:
        urllib.request.build_opener(NoRedirect).open(
            urllib.request.Request(f"{base}{path}", headers={"Cookie": nonce}), timeout=10)
        sys.exit("the Slack callback did not redirect")
    except urllib.error.HTTPError as redirect:
        code = redirect.headers["Location"].split("link=", 1)[1].split("&", 1)[0]
    link = urllib.request.Request(f"{base}/oauth/slack/link", data=json.dumps({"code": code}).encode(),
                                  headers={**bearer, "Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(link, timeout=10).read()
    # The run posts to Slack: measured without stopping for approval (a write asks by default).
    policy = urllib.request.Request(f"{base}/agent/policy", data=json.dumps({"policies": {"slack_post_message": "allow"}}).encode(),
                                    headers={**bearer, "Content-Type": "application/json"}, method="PUT")
    urllib.request.urlopen(policy, timeout=10).read()

    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"prompt": "What is new in #general?"})

    def one_run():
        connection.request("POST", "/agent/run", body=body, headers={**bearer, "Content-Type": "application/json"})
        reply = json.loads(connection.getresponse().read())
        if reply.get("status") != "completed" or len(reply.get("steps", [])) != 3 or any(s["isError"] for s in reply["steps"]):
            sys.exit(f"agent bench run went wrong: {reply}")

    for _ in range(30):
        one_run()
    runs = 300
    FakeClaudeAndSlack.handling[0], FakeClaudeAndSlack.requests[0] = 0.0, 0
    cpu_before, started = cpu_seconds(process.pid), time.perf_counter()
    latencies = []
    for _ in range(runs):
        began = time.perf_counter()
        one_run()
        latencies.append((time.perf_counter() - began) * 1000)
    wall = time.perf_counter() - started
    cpu_ms = (cpu_seconds(process.pid) - cpu_before) * 1000 / runs
    fake_ms = FakeClaudeAndSlack.handling[0] * 1000 / runs
    latencies.sort()
    rows.append(("ConnectorsService", "POST /agent/run (3 tools)", "3 Claude turns + 3 Slack calls to an instant fake, one run at a time",
                 runs / wall, latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)], peak_rss_mb(process.pid), 0, ""))
    print(f"  ConnectorsService POST /agent/run: {runs / wall:,.0f} runs/s", file=sys.stderr)
    return [
        "",
        f"Agent run overhead ({runs} runs of 3 tools, one at a time): {wall * 1000 / runs:.2f} ms per run end to end, of which "
        f"the fake spent {fake_ms:.2f} ms handling its {FakeClaudeAndSlack.requests[0] // runs} requests; the service used "
        f"{cpu_ms:.2f} ms of CPU per run (target: under 5 ms of service time per run).",
    ]


def start_anchor(command, env, workdir, name, ready_url):
    log = open(os.path.join(workdir, f"{name}.log"), "w")
    process = subprocess.Popen(command, env={"PATH": os.environ["PATH"], **env}, cwd=workdir, stdout=log, stderr=log)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(ready_url, timeout=1) as r:
                if r.status == 200:
                    return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    sys.exit(f"{name} did not start; see {log.name}")


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def anchors(args, running, rows, workdir):
    """The services against the two anchors, in alternating rounds so the machine's drift from
    minute to minute hits both sides of every ratio alike: each service's GET /health against a
    bare Hummingbird server, and GET /oauth/connections against a Bun server doing that route's
    work the seed's way (bench/bun-anchor). Ratios are medians over the rounds."""
    auth, auth_port = running["AuthService"]
    connectors, connectors_port = running["ConnectorsService"]
    user_id, jwt = running["connections-user"]
    claims = json.loads(base64.urlsafe_b64decode(jwt.split(".")[1] + "=="))
    # The Bun server's own table: the service's rows for the bench user, the same columns and
    # unique index (userId first).
    subprocess.run(["psql", os.environ["DATABASE_URL"], "-q", "-c",
                    'DROP TABLE IF EXISTS "bench_bun_connection"; '
                    'CREATE TABLE "bench_bun_connection" (LIKE "connection" INCLUDING DEFAULTS INCLUDING INDEXES); '
                    f'INSERT INTO "bench_bun_connection" SELECT * FROM "connection" WHERE "userId" = \'{user_id}\''],
                   check=True)
    bare_port, bun_port = free_port(), free_port()
    bare = start_anchor([os.path.abspath(args.bare_bin)], {"PORT": str(bare_port)}, workdir, "bare",
                        f"http://127.0.0.1:{bare_port}/health")
    bun = start_anchor([args.bun, "run", os.path.abspath(args.bun_server)],
                       {"PORT": str(bun_port), "DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"],
                        "JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json", "JWT_ISSUER": claims["iss"],
                        "USER_RATE_LIMIT": "1000000"},
                       workdir, "bun", f"http://127.0.0.1:{bun_port}/health")
    script = write_script(workdir, "anchor-connections.lua", f'wrk.headers["Authorization"] = "Bearer {jwt}"')
    # The framework's own cost of a webhook: the same Slack deliveries to the bare server, which
    # collects the body and answers (no check, no store), for comparison with the ingest below.
    ingest = SlackIngest(workdir, connectors_port)
    slack_events = os.path.join(workdir, "anchor-slack.tsv")
    signed_slack_events(slack_events, "EvANCHOR", 20000)
    runs = [  # (key, url, connections, script, script arguments)
        ("bare", f"http://127.0.0.1:{bare_port}/health", args.connections, None, ()),
        ("auth", f"http://127.0.0.1:{auth_port}/health", args.connections, None, ()),
        ("connectors", f"http://127.0.0.1:{connectors_port}/health", args.connections, None, ()),
        ("bare64", f"http://127.0.0.1:{bare_port}/health", 64, None, ()),
        ("bun-list", f"http://127.0.0.1:{bun_port}/oauth/connections", 64, script, ()),
        ("list", f"http://127.0.0.1:{connectors_port}/oauth/connections", 64, script, ()),
    ]
    # The webhook rounds come after memory is read, so every process is compared after the same
    # kind of load (the Bun server takes no webhooks).
    webhook_runs = [
        ("bare64-webhooks", f"http://127.0.0.1:{bare_port}/health", 64, None, ()),
        ("bare-post", f"http://127.0.0.1:{bare_port}/slack/events", 64, ingest.script, (slack_events,)),
        ("ingest", ingest.url, 64, ingest.script, ()),
    ]
    results = {key: [] for key, *_ in runs + webhook_runs}

    def alternate(runs):
        # Every other round in reverse order (ABBA), so a drift of the machine's speed within a
        # round does not always favour whichever runs first.
        for index in range(args.anchor_rounds):
            for key, url, connections, run_script, script_args in runs if index % 2 == 0 else runs[::-1]:
                if key == "ingest":
                    rps, p50, p99, non2xx, socket_errors = ingest.measure(args.anchor_seconds, args.threads, ingest.warm(1))
                else:
                    run_wrk(url, 1, connections, args.threads, run_script, script_args)
                    rps, p50, p99, non2xx, socket_errors = run_wrk(url, args.anchor_seconds, connections, args.threads,
                                                                   run_script, script_args)
                if non2xx:
                    sys.exit(f"{key}: {non2xx} non-2xx answers from {url}")
                results[key].append((rps, p99, p50))

    try:
        alternate(runs)
        processes = {"AuthService": auth.pid, "ConnectorsService": connectors.pid, "Bun": bun.pid, "bare": bare.pid}
        memory = {name: rss_mb(pid) for name, pid in processes.items()}
        # Code and data mapped from files (the binary, the Swift runtime, Foundation) against
        # the process's own heap and stacks: what a change can win differs for each.
        split = {name: (status_mb(pid, "RssAnon"), status_mb(pid, "RssFile")) for name, pid in processes.items()}
        reset_peak_rss(connectors.pid)
        alternate(webhook_runs)
    finally:
        for process in (bare, bun):
            process.terminate()
            process.wait(timeout=15)

    def ratio(a, b):
        return median([x[0] / y[0] for x, y in zip(results[a], results[b])])

    def rps(key):
        return median([x[0] for x in results[key]])

    def p99(key):
        return median([x[1] for x in results[key]])

    for key, scenario, note in [("bare", "GET /health", "bare Hummingbird: the framework alone"),
                                ("bun-list", "GET /oauth/connections", "Bun: WebCrypto RS256 + Redis INCR/EXPIRE + one query + JSON")]:
        rows.append(("Anchor", scenario, note + f" (median of {args.anchor_rounds} rounds)", rps(key),
                     median([x[2] for x in results[key]]), p99(key),
                     memory["Bun"] if key == "bun-list" else memory["bare"], 0, ""))
    for service, key in (("AuthService", "auth"), ("ConnectorsService", "connectors")):
        value = ratio(key, "bare")
        target(f"{service} `GET /health` ÷ bare Hummingbird", "≥ 0.85", f"{value:.2f}", value >= 0.85)
    list_bun, list_bare = ratio("list", "bun-list"), ratio("list", "bare64")
    target("`GET /oauth/connections` ÷ the Bun server (64 connections)", "≥ 1.5", f"{list_bun:.2f}", list_bun >= 1.5)
    target("`GET /oauth/connections` ÷ bare Hummingbird `/health`", "≥ 0.6", f"{list_bare:.2f}", list_bare >= 0.6)
    target("`GET /oauth/connections` p99 against Bun's", "no worse", f"{p99('list'):.2f} ms vs {p99('bun-list'):.2f} ms",
           p99("list") <= p99("bun-list"))
    rows.append(("ConnectorsService", "POST /slack/events", "Slack signature check + insert (deduplicated) + answer "
                 f"(median of {args.anchor_rounds} rounds)", rps("ingest"), median([x[2] for x in results["ingest"]]),
                 p99("ingest"), peak_rss_mb(connectors.pid), 0, ""))
    ingest_bare, ingest_post, post_bare = ratio("ingest", "bare64-webhooks"), ratio("ingest", "bare-post"), ratio("bare-post", "bare64-webhooks")
    target("Slack event ingest ÷ bare Hummingbird `/health` (64 senders)", "≥ 0.5", f"{ingest_bare:.2f}", ingest_bare >= 0.5)
    for service in ("AuthService", "ConnectorsService"):
        target(f"{service} resident memory after the load against Bun's", "≤", f"{memory[service]:.1f} vs {memory['Bun']:.1f} MiB",
               memory[service] <= memory["Bun"])
    pairs = " · ".join(f"{key} {', '.join(f'{x[0]:,.0f}' for x in results[key])}" for key, *_ in runs + webhook_runs)
    resident = " · ".join(f"{name} {memory[name]:.1f} (heap and stacks {anon:.1f}, mapped files {file:.1f})"
                          for name, (anon, file) in split.items())
    return ["", f"Resident memory after the load, MiB: {resident}.", "",
            f"Anchor rounds ({args.anchor_rounds} × {args.anchor_seconds} s each, req/s in order): {pairs}.", "",
            ingest.verdict(), "",
            "The bare server answering the same deliveries (`POST /slack/events`: collect the body, answer; no check, "
            f"no store, 64 connections): {rps('bare-post'):,.0f} req/s, {post_bare:.2f}× its `GET /health`; the ingest is "
            f"{ingest_post:.2f}× it (medians of the rounds' ratios).", ""]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="bench/results/latest.md")
    parser.add_argument("--bare-bin", required=True, help="the bare Hummingbird anchor (bench/bare-hummingbird), built in release")
    parser.add_argument("--bun", required=True, help="the bun binary (scripts/ensure-bun.sh)")
    parser.add_argument("--bun-server", default="bench/bun-anchor/server.ts")
    parser.add_argument("--anchor-rounds", type=int, default=4)
    parser.add_argument("--anchor-seconds", type=int, default=5)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="connectors-bench-")
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": os.environ["DATABASE_URL"]}
    subprocess.run([os.path.join(args.bin_dir, "AuthService"), "migrate"], env=env, cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)

    rows = []
    running = {}
    fake, fake_url = start_agent_fake()
    try:
        for service, port_variable, method, path, note in SCENARIOS:
            if service not in running:
                extra = None
                if service == "ConnectorsService":
                    # Verifies the bench auth service's JWTs; the per-user limit would otherwise
                    # refuse one user's thousands of requests per second.
                    auth_port = running["AuthService"][1]
                    extra = connectors_env = {"AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json", "USER_RATE_LIMIT": "1000000",
                             "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_BOT_USERS": "bench-agent@example.com", "SLACK_API_URL": fake_url + "/slack",
                             "ANTHROPIC_API_KEY": "sk-ant-bench", "ANTHROPIC_MODEL": "claude-bench", "ANTHROPIC_BASE_URL": fake_url,
                             "AGENT_RATE_LIMIT": "1000000"}
                running[service] = start_service(args.bin_dir, service, port_variable, workdir, extra)
            process, port = running[service]
            url = f"http://127.0.0.1:{port}{path}"
            run_wrk(url, args.warmup, args.connections, args.threads)
            reset_peak_rss(process.pid)
            rps, p50, p99, non2xx, socket_errors = run_wrk(url, args.seconds, args.connections, args.threads)
            rows.append((service, f"{method} {path}", note, rps, p50, p99, peak_rss_mb(process.pid), non2xx, socket_errors))
            print(f"  {service} {method} {path}: {rps:,.0f} req/s", file=sys.stderr)

        extra_lines = auth_scenarios(args, running["AuthService"], rows, workdir)
        extra_lines += connectors_scenarios(args, running, rows, workdir, connectors_env)
        extra_lines += anchors(args, running, rows, workdir)
        extra_lines += agent_scenario(args, running, rows, workdir)
    finally:
        fake.shutdown()
        for service in ("AuthService", "ConnectorsService"):
            if service in running:
                running[service][0].terminate()
                running[service][0].wait(timeout=15)

    ceiling = {service: rps for service, scenario, _, rps, *_ in rows if scenario == "GET /health"}
    lines = [
        f"# Benchmarks — {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        "",
        f"Release builds on loopback; wrk -t{args.threads} -c{args.connections} -d{args.seconds}s after a "
        f"{args.warmup}s warm-up; {os.cpu_count()} cores shared by wrk, the service, PostgreSQL and Redis; "
        "LOG_LEVEL=info (one log line per request, as in production).",
        "",
        "| service | scenario | what it does | req/s | × /health | p50 ms | p99 ms | peak RSS MiB | errors |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for service, scenario, note, rps, p50, p99, rss, non2xx, socket_errors in rows:
        ratio = rps / ceiling[service] if ceiling.get(service) else float("nan")
        errors = str(non2xx) + (f" ({socket_errors})" if socket_errors else "")
        lines.append(f"| {service} | {scenario} | {note} | {rps:,.0f} | {ratio:.2f} | {p50:.2f} | {p99:.2f} | {rss:.1f} | {errors} |")
    lines += [""] + extra_lines
    lines += ["", "## Targets", "", "| what | target | measured | met |", "|---|---|---|---|"]
    lines += [f"| {what} | {goal} | {measured} | {'yes' if met else '**no**'} |" for what, goal, measured, met in TARGETS]
    lines += ["", f"{sum(1 for *_, met in TARGETS if met)} of {len(TARGETS)} targets met."]
    table = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(table)
    print(table)
    if any(row[7] for row in rows):
        sys.exit("some requests failed (non-2xx); see the errors column")


if __name__ == "__main__":
    main()
