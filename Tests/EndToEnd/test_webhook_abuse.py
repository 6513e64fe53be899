"""Webhook receivers under attack, at the connectors service's own port: uploads that could
never be signed are refused from their headers before a byte of body is read, a source that
keeps failing is locked out, and bodies in flight are bounded across the process, while a real
signed delivery from elsewhere still gets through. The attacker and the provider are different
loopback addresses (127.0.0.1 and 127.0.0.2), as they would be different hosts."""
import hashlib
import hmac
import http.client
import json
import os
import pathlib
import re
import select
import socket
import tempfile
import time
import urllib.request
import uuid

import pytest

from conftest import SECRETS, Stack

BUDGET = 4 * 1024 * 1024  # WEBHOOK_INFLIGHT_BYTES for this stack: eight 512 KiB Slack bodies


@pytest.fixture(scope="module")
def stack():
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="connectors-abuse-"))
    # A Redis database of its own: the lockout this module provokes must not follow 127.0.0.1
    # into the other modules' stacks.
    redis = re.sub(r"(/\d+)?$", "/5", os.environ["TEST_REDIS_URL"], count=1)
    stack = Stack(workdir, extra_env={"WEBHOOK_INFLIGHT_BYTES": str(BUDGET), "REDIS_URL": redis})
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def resident_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def received_total(stack):
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.connectors_port}/metrics", timeout=60) as response:
        text = response.read().decode()
    match = re.search(r'^webhooks_received_total\{provider="slack"\} (\d+)', text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def signed_event(stack, source="127.0.0.2"):
    """Posts a valid signed Slack event at the service port from `source`; returns (status, body)."""
    body = json.dumps({"type": "event_callback", "team_id": "T0ABUSE", "event_id": "EvOK" + uuid.uuid4().hex[:10],
                       "event": {"type": "reaction_added", "user": "U1"}})
    timestamp = str(int(time.time()))
    signature = "v0=" + hmac.new(SECRETS["SLACK_SIGNING_SECRET"].encode(), f"v0:{timestamp}:{body}".encode(),
                                 hashlib.sha256).hexdigest()
    connection = http.client.HTTPConnection("127.0.0.1", stack.connectors_port, timeout=60,
                                            source_address=(source, 0))
    try:
        connection.request("POST", "/slack/events", body=body.encode(), headers={
            "Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def start_upload(stack, headers, length, first_bytes=1024, source="127.0.0.1"):
    """Opens a connection from `source`, sends the request head declaring `length` body bytes
    and only the first few of them, and leaves it there: a slow uploader."""
    sock = socket.create_connection(("127.0.0.1", stack.connectors_port), timeout=60, source_address=(source, 0))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    sock.sendall((f"POST /slack/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {length}\r\n{head}\r\n").encode() + b"{" + b" " * (first_bytes - 1))
    return sock


def status_of(sock):
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None


def test_unsigned_slow_uploads_are_refused_before_their_bodies_are_read(stack):
    pid = stack.service_pids()[1]
    before = resident_kib(pid)
    received = received_total(stack)
    started = time.monotonic()
    uploads = [start_upload(stack, {}, 1024 * 1024) for _ in range(200)]
    try:
        # The bodies never come, so an answer at all means nothing waited for them; the bound
        # is only there to fail rather than hang.
        statuses = [status_of(sock) for sock in uploads]
        elapsed = time.monotonic() - started
        # Refused as unsigned until the source has failed WEBHOOK_FAILURE_THRESHOLD (30) times,
        # then as locked out.
        assert set(statuses) == {401, 429}, statuses
        assert statuses.count(401) >= 30
        assert elapsed < 30, f"200 refusals took {elapsed:.1f} s"
        # A delivery that is signed goes through meanwhile from the provider, and is stored...
        assert signed_event(stack) == (200, {"ok": True})
        assert received_total(stack) == received + 1
        # ...and so does one from the locked-out source itself: providers send from shared
        # addresses, so the lockout answers failures only and never costs a real delivery.
        assert signed_event(stack, source="127.0.0.1") == (200, {"ok": True})
        assert received_total(stack) == received + 2
        # 200 × 1 MiB was never buffered.
        assert resident_kib(pid) - before < 64 * 1024
    finally:
        for sock in uploads:
            sock.close()


def test_bodies_in_flight_are_bounded_and_the_budget_comes_back(stack):
    timestamp = str(int(time.time()))
    # Well-formed but unverifiable signatures: only the body could tell, and it is slow to come.
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=" + "ab" * 32}
    room = BUDGET // (512 * 1024)
    # From an address of its own: 127.0.0.1 is locked out by now.
    uploads = [start_upload(stack, headers, 512 * 1024, source="127.0.0.3") for _ in range(room + 4)]
    try:
        # Whichever arrive first take the room and wait for their bodies; the rest are answered
        # 503 at once. Wait for those four answers, then check nobody else was answered.
        answered = {}
        deadline = time.monotonic() + 60
        while len(answered) < 4 and time.monotonic() < deadline:
            ready, _, _ = select.select([sock for sock in uploads if sock not in answered], [], [], 1)
            for sock in ready:
                answered[sock] = status_of(sock)
        time.sleep(1)
        late, _, _ = select.select([sock for sock in uploads if sock not in answered], [], [], 0)
        assert sorted(answered.values()) == [503] * 4
        assert late == []
    finally:
        for sock in uploads:
            sock.close()
    # Closed uploads give their room back: a signed delivery is accepted again.
    deadline = time.monotonic() + 60
    while True:
        status, body = signed_event(stack)
        if status == 200:
            assert body == {"ok": True}
            break
        assert status == 503 and time.monotonic() < deadline, (status, body)
        time.sleep(0.2)


@pytest.fixture(scope="module")
def roomy_stack():
    """A stack whose byte budget holds 40 half-MiB uploads, so only Traefik's limit applies."""
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="connectors-edge-"))
    redis = re.sub(r"(/\d+)?$", "/6", os.environ["TEST_REDIS_URL"], count=1)
    stack = Stack(workdir, extra_env={"WEBHOOK_INFLIGHT_BYTES": str(64 * 1024 * 1024), "REDIS_URL": redis})
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def test_traefik_lets_one_source_hold_only_so_many_webhooks_in_flight(roomy_stack):
    """Through Traefik (the edge), one address may have 32 webhook requests in flight; past that
    Traefik answers 429 itself, while a delivery from another address goes through."""
    import ssl
    stack = roomy_stack
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    timestamp = str(int(time.time()))
    head = (f"POST /slack/events HTTP/1.1\r\nHost: localhost:{stack.https_port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {400 * 1024}\r\nX-Slack-Request-Timestamp: {timestamp}\r\n"
            f"X-Slack-Signature: v0={'cd' * 32}\r\n\r\n").encode()
    uploads = []
    try:
        # Well-formed but unverifiable, and slow: the service holds each until its body comes.
        # (Over 256 KiB declared: Go's server, Traefik's, then answers a refusal at once rather
        # than first reading a small body to the end.)
        for _ in range(40):
            raw = socket.create_connection(("127.0.0.1", stack.https_port), timeout=60,
                                           source_address=("127.0.0.4", 0))
            sock = context.wrap_socket(raw, server_hostname="localhost")
            sock.sendall(head + b"{")
            uploads.append(sock)
        # TLS 1.3 session tickets make a socket readable before any answer: read without waiting.
        for sock in uploads:
            sock.setblocking(False)

        def answer(sock):
            try:
                data = sock.recv(4096)
            except ssl.SSLWantReadError:
                return None
            return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0

        answered = {}
        deadline = time.monotonic() + 60
        while len(answered) < 8 and time.monotonic() < deadline:
            for sock in uploads:
                if sock not in answered and (status := answer(sock)) is not None:
                    answered[sock] = status
            time.sleep(0.1)
        time.sleep(1)
        late = [sock for sock in uploads if sock not in answered and answer(sock) is not None]
        assert sorted(answered.values()) == [429] * 8
        assert late == []
        # Meanwhile the provider, at another address, is let through and stored.
        body = json.dumps({"type": "event_callback", "team_id": "T0ABUSE", "event_id": "EvTr" + uuid.uuid4().hex[:10],
                           "event": {"type": "reaction_added", "user": "U1"}})
        now = str(int(time.time()))
        signature = "v0=" + hmac.new(SECRETS["SLACK_SIGNING_SECRET"].encode(), f"v0:{now}:{body}".encode(),
                                     hashlib.sha256).hexdigest()
        connection = http.client.HTTPSConnection("localhost", stack.https_port, context=context, timeout=60,
                                                 source_address=("127.0.0.2", 0))
        connection.request("POST", "/slack/events", body=body.encode(), headers={
            "Content-Type": "application/json", "X-Slack-Request-Timestamp": now, "X-Slack-Signature": signature})
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (200, {"ok": True})
        connection.close()
    finally:
        for sock in uploads:
            sock.close()
