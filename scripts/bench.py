#!/usr/bin/env python3
"""Benchmarks the release builds with wrk on loopback and prints a Markdown table.

Run through `make bench`, which builds release binaries and starts throwaway PostgreSQL and
Redis (DATABASE_URL / REDIS_URL). Each scenario: a fresh warm-up, then a bounded wrk run;
requests/s, p50 and p99 latency from wrk, peak RSS of the service from /proc (VmHWM, reset
before each scenario). Every figure is also given as a ratio to the GET /health ceiling
measured in the same run, since absolute numbers differ between machines.
"""
import argparse
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
import time
import urllib.request

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


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


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


def measure(rows, process, service, scenario, note, url, args, script=None, connections=None):
    connections = connections or args.connections
    run_wrk(url, args.warmup, connections, args.threads, script)
    reset_peak_rss(process.pid)
    rps, p50, p99, non2xx, socket_errors = run_wrk(url, args.seconds, connections, args.threads, script)
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
    token_rps = measure(rows, process, "AuthService", "GET /api/auth/token", "session lookup + RS256 sign",
                        f"{base}/api/auth/token", args, write_script(workdir, "token.lua", header))
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
    ]


def prometheus_value(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def connectors_scenarios(args, running, rows, workdir):
    """GET /oauth/connections with a JWT from the auth service: verify + limit + one query."""
    auth_port = running["AuthService"][1]
    process, port = running["ConnectorsService"]
    cookie = sign_up(auth_port, "bench-connectors@example.com", "bench-password-1")
    request = urllib.request.Request(f"http://127.0.0.1:{auth_port}/api/auth/get-session", headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=10) as response:
        user_id = json.loads(response.read())["user"]["id"]
        jwt = response.headers["set-auth-jwt"]
    # Three connections to list (their sealed tokens are never opened by this route).
    values = ", ".join(f"('bench-{user_id}-{provider}', '{user_id}', '{provider}', 'acct-{provider}', 'Bench', '{{read}}', 'v1.none.AAAA')"
                       for provider in ("linear", "github", "slack"))
    subprocess.run(["psql", os.environ["DATABASE_URL"], "-q", "-c",
                    f'INSERT INTO "connection" ("id", "userId", "provider", "accountId", "accountName", "scopes", "accessToken") VALUES {values}'],
                   check=True)
    fetches_before = prometheus_value(port, "jwks_fetches_total")
    started = time.time()
    measure(rows, process, "ConnectorsService", "GET /oauth/connections", "JWT verify + per-user rate limit + one indexed query",
            f"http://127.0.0.1:{port}/oauth/connections", args,
            write_script(workdir, "connections.lua", f'wrk.headers["Authorization"] = "Bearer {jwt}"'), connections=64)
    fetches = prometheus_value(port, "jwks_fetches_total") - fetches_before
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


def slack_ingest_scenario(args, running, rows, workdir):
    """POST /slack/events at 64 senders: verify the signature, insert the event, answer."""
    process, port = running["ConnectorsService"]
    url = f"http://127.0.0.1:{port}/slack/events"
    script = os.path.join(workdir, "slack.lua")
    with open(script, "w") as f:
        f.write(SLACK_SCRIPT)
    events = os.path.join(workdir, "slack-events.tsv")
    # Warm-up sizes the measured run: enough distinct events that none is sent twice.
    signed_slack_events(events, "EvWARM", 20000 * args.warmup)
    warm = re.search(r"BENCH issued=(\d+)", wrk_output(url, args.warmup, 64, args.threads, script, [events]))
    rate = int(warm.group(1)) / args.warmup
    count = int(rate * args.seconds * 2) + 20000
    signed_slack_events(events, "EvBENCH", count)
    reset_peak_rss(process.pid)
    out = wrk_output(url, args.seconds, 64, args.threads, script, [events])
    rps, p50, p99, non2xx, socket_errors = parse_wrk(out)
    rows.append(("ConnectorsService", "POST /slack/events", "Slack signature check + insert (deduplicated) + answer; "
                 "the worker drains the queue meanwhile", rps, p50, p99, peak_rss_mb(process.pid), non2xx, socket_errors))
    print(f"  ConnectorsService POST /slack/events: {rps:,.0f} req/s", file=sys.stderr)
    sent = re.search(r"BENCH issued=(\d+) answered=(\d+)", out)
    issued, answered = int(sent.group(1)), int(sent.group(2))
    time.sleep(1)  # requests still in flight when wrk stopped
    stored = int(psql_value("SELECT count(*) FROM \"webhookEvent\" WHERE \"provider\" = 'slack' AND \"deliveryKey\" LIKE 'EvBENCH%'"))
    distinct = int(psql_value("SELECT count(DISTINCT \"deliveryKey\") FROM \"webhookEvent\" WHERE \"provider\" = 'slack' AND \"deliveryKey\" LIKE 'EvBENCH%'"))
    # Every 2xx answer means a stored row (none lost); no row without a request (none invented)
    # and none twice. Requests wrk cut off at the end may or may not have been stored.
    verdict = "none lost or duplicated" if answered <= stored <= min(issued, count) and distinct == stored else "MISMATCH"
    line = (f"Slack ingest rows: {issued} distinct deliveries sent, {answered} answered 2xx, {stored} rows stored "
            f"({distinct} distinct): {verdict}.")
    if verdict != "none lost or duplicated":
        sys.exit(line)
    return ["", line]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="bench/results/latest.md")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="connectors-bench-")
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": os.environ["DATABASE_URL"]}
    subprocess.run([os.path.join(args.bin_dir, "AuthService"), "migrate"], env=env, cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)

    rows = []
    running = {}
    try:
        for service, port_variable, method, path, note in SCENARIOS:
            if service not in running:
                extra = None
                if service == "ConnectorsService":
                    # Verifies the bench auth service's JWTs; the per-user limit would otherwise
                    # refuse one user's thousands of requests per second.
                    auth_port = running["AuthService"][1]
                    extra = {"AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json", "USER_RATE_LIMIT": "1000000",
                             "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET}
                running[service] = start_service(args.bin_dir, service, port_variable, workdir, extra)
            process, port = running[service]
            url = f"http://127.0.0.1:{port}{path}"
            run_wrk(url, args.warmup, args.connections, args.threads)
            reset_peak_rss(process.pid)
            rps, p50, p99, non2xx, socket_errors = run_wrk(url, args.seconds, args.connections, args.threads)
            rows.append((service, f"{method} {path}", note, rps, p50, p99, peak_rss_mb(process.pid), non2xx, socket_errors))
            print(f"  {service} {method} {path}: {rps:,.0f} req/s", file=sys.stderr)

        extra_lines = auth_scenarios(args, running["AuthService"], rows, workdir)
        extra_lines += connectors_scenarios(args, running, rows, workdir)
        extra_lines += slack_ingest_scenario(args, running, rows, workdir)
    finally:
        for process, _ in running.values():
            process.terminate()
            process.wait(timeout=15)

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
    table = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(table)
    print(table)
    if any(row[7] for row in rows):
        sys.exit("some requests failed (non-2xx); see the errors column")


if __name__ == "__main__":
    main()
