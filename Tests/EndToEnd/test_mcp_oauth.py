"""An MCP client connecting the standard way, end to end through the real Traefik over HTTPS:
the official Python `mcp` client's OAuth support discovers the authorization server from the
401 challenge, registers itself, sends a signed-in person through consent, exchanges the code
with PKCE and `resource`, and calls tools — against both services as Traefik routes them."""
import asyncio
import json
import os
import pathlib
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import jwt
import pytest
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata

from conftest import ROOT, Stack

REDIRECT = "http://127.0.0.1:47813/callback"  # never dialled: the test reads the redirect itself


class MetadataDocuments(BaseHTTPRequestHandler):
    """Client ID Metadata Documents over HTTPS (the dev certificate for localhost), good and bad."""
    requested = []

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        MetadataDocuments.requested.append(self.path)
        base = f"https://localhost:{self.server.server_address[1]}"
        document = {"client_id": base + self.path, "client_name": "CIMD MCP client", "redirect_uris": [REDIRECT],
                    "token_endpoint_auth_method": "none"}
        if self.path == "/client.json":
            self.reply(200, document, [("Cache-Control", "max-age=60")])
        elif self.path == "/redirect.json":
            self.reply(302, b"", [("Location", base + "/client.json")])
        elif self.path == "/big.json":
            self.reply(200, {**document, "padding": "x" * 6000})
        elif self.path == "/other.json":
            self.reply(200, {**document, "client_id": base + "/client.json"})
        elif self.path == "/secret.json":
            self.reply(200, {**document, "client_secret": "s3cret"})
        else:
            self.reply(404, {"error": "not found"})


@pytest.fixture(scope="module")
def certs():
    folder = tempfile.mkdtemp(prefix="cimd-certs-")
    os.chmod(folder, 0o755)  # the services run unprivileged and read the certificate
    subprocess.run([ROOT / "scripts/dev-cert.sh", folder], check=True, capture_output=True)
    return folder


@pytest.fixture(scope="module")
def stack(certs):
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="connectors-mcp-"))
    # The documents are served from localhost with the dev certificate: allowed for this test.
    stack = Stack(workdir, {"CIMD_ALLOW_HOSTS": "localhost", "CIMD_CA_FILE": f"{certs}/localhost.crt"})
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def documents(certs):
    server = ThreadingHTTPServer(("127.0.0.1", 0), MetadataDocuments)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f"{certs}/localhost.crt", f"{certs}/localhost.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://localhost:{server.server_address[1]}"
    server.shutdown()


class MemoryStorage(TokenStorage):
    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


class Person:
    """A signed-in person's browser: follows the authorization URL, consents on the console's
    page, and hands the client what its redirect URI received."""

    def __init__(self, stack, cookie, client_name="E2E MCP client"):
        self.stack, self.cookie, self.result, self.seen, self.client_name = stack, cookie, None, [], client_name

    def http(self):
        return httpx2.AsyncClient(verify=ssl.create_default_context(cafile=self.stack.cafile), timeout=60,
                                  headers={"Cookie": self.cookie}, follow_redirects=False)

    async def redirect_handler(self, authorization_url):
        self.seen.append(authorization_url)
        async with self.http() as browser:
            consent = await browser.get(authorization_url)
            assert consent.status_code == 302, consent.text
            location = consent.headers["location"]
            assert location.startswith(self.stack.public + "/consent?"), location
            signed = location.split("?", 1)[1]
            client_id = urllib.parse.parse_qs(signed)["client_id"][0]
            shown = await browser.get(f"{self.stack.public}/api/auth/oauth2/public-client",
                                      params={"client_id": client_id})
            assert shown.json()["client_name"] == self.client_name
            answer = await browser.post(f"{self.stack.public}/api/auth/oauth2/consent",
                                        json={"accept": True, "oauth_query": signed},
                                        headers={"Origin": self.stack.public})
            assert answer.status_code == 200, answer.text
            url = answer.json()["url"]
        assert url.startswith(REDIRECT + "?"), url
        query = urllib.parse.parse_qs(url.split("?", 1)[1])
        self.result = AuthorizationCodeResult(code=query["code"][0], state=query.get("state", [None])[0],
                                              iss=query.get("iss", [None])[0])

    async def callback_handler(self):
        return self.result


def sign_up(stack):
    body = json.dumps({"name": "MCP", "email": f"mcp-{uuid.uuid4().hex[:8]}@example.com", "password": "mcp-password-1"})
    status, headers, data = stack.request("POST", "/api/auth/sign-up/email", body,
                                          {"Origin": stack.public, "Content-Type": "application/json"})
    assert status == 200, data
    return headers.get_all("Set-Cookie")[0].split(";")[0]


def mcp_post(stack, token):
    message = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return stack.request("POST", "/mcp", message, headers)


def test_the_official_client_connects_with_oauth_and_calls_tools(stack):
    cookie = sign_up(stack)
    person = Person(stack, cookie)
    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=stack.public + "/mcp",
        client_metadata=OAuthClientMetadata(client_name="E2E MCP client", redirect_uris=[REDIRECT],
                                            token_endpoint_auth_method="none"),
        storage=storage, redirect_handler=person.redirect_handler, callback_handler=person.callback_handler)

    async def session():
        async with httpx2.AsyncClient(auth=provider, verify=ssl.create_default_context(cafile=stack.cafile),
                                      timeout=httpx2.Timeout(60, read=120)) as http:
            async with Client(streamable_http_client(stack.public + "/mcp", http_client=http)) as client:
                tools = await client.list_tools()
                called = await client.call_tool("linear_search_issues", {"query": "crash"})
                return client.protocol_version, tools, called

    protocol, tools, called = asyncio.run(asyncio.wait_for(session(), timeout=240))
    assert protocol == "2025-11-25"
    # A new person has no connections: no tools yet, and a call says so.
    assert tools.tools == []
    assert called.is_error and "no tool named linear_search_issues" in called.content[0].text

    # The client asked for what the 401 challenge named, PKCE S256, and our resource.
    authorize = urllib.parse.parse_qs(person.seen[0].split("?", 1)[1])
    assert authorize["code_challenge_method"] == ["S256"]
    assert authorize["resource"] == [stack.public + "/mcp"]
    assert set(authorize["scope"][0].split()) == {"connectors:read", "connectors:write", "offline_access"}

    # The access token, checked by PyJWT against the published keys.
    access = storage.tokens.access_token
    _, _, jwks = stack.request("GET", "/.well-known/jwks.json")
    header = jwt.get_unverified_header(access)
    key = next(k for k in json.loads(jwks)["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(access, jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(key)), algorithms=["RS256"],
                        audience=stack.public + "/mcp", issuer=stack.public)
    assert header["typ"] == "at+jwt"
    assert claims["client_id"] == storage.client_info.client_id == claims["azp"]
    assert claims["exp"] - claims["iat"] == 3600 and claims["sid"]
    assert storage.tokens.refresh_token

    # An MCP access token is not a key to the REST API; the console's JWT is not one to /mcp.
    assert stack.request("GET", "/oauth/connections", headers={"Authorization": f"Bearer {access}"})[0] == 401
    status, _, data = stack.request("GET", "/api/auth/token", headers={"Cookie": cookie})
    console_jwt = json.loads(data)["token"]
    status, headers, _ = mcp_post(stack, console_jwt)
    assert status == 401
    assert headers["WWW-Authenticate"].startswith(
        f'Bearer resource_metadata="{stack.public}/.well-known/oauth-protected-resource/mcp"')
    assert 'error="invalid_token"' in headers["WWW-Authenticate"]
    assert mcp_post(stack, access)[0] == 200

    # The person removes the app in the console: its access ends at /mcp within 60 seconds.
    status, _, data = stack.request("GET", "/api/auth/oauth2/get-consents", headers={"Cookie": cookie})
    apps = json.loads(data)
    assert [app["name"] for app in apps] == ["E2E MCP client"]
    status, _, data = stack.request("POST", "/api/auth/oauth2/delete-consent", json.dumps({"id": apps[0]["id"]}),
                                    {"Cookie": cookie, "Origin": stack.public, "Content-Type": "application/json"})
    assert status == 200, data
    deadline = time.time() + 60
    while mcp_post(stack, access)[0] != 401:
        assert time.time() < deadline, "the revoked token still works after 60 seconds"
        time.sleep(1)
    # Its refresh token is gone too.
    status, _, data = stack.request(
        "POST", "/api/auth/oauth2/token",
        urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": storage.tokens.refresh_token,
                                "client_id": storage.client_info.client_id}),
        {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and json.loads(data)["error"] == "invalid_grant"


def authorize_status(stack, client_id):
    query = urllib.parse.urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
                                    "code_challenge": "x" * 43, "code_challenge_method": "S256", "state": "s"})
    status, headers, _ = stack.request("GET", "/api/auth/oauth2/authorize?" + query)
    return status, headers.get("Location", "")


def test_a_client_known_by_its_metadata_document_connects_without_registering(stack, documents):
    cookie = sign_up(stack)
    person = Person(stack, cookie, client_name="CIMD MCP client")
    storage = MemoryStorage()
    url = documents + "/client.json"
    provider = OAuthClientProvider(
        server_url=stack.public + "/mcp",
        client_metadata=OAuthClientMetadata(client_name="CIMD MCP client", redirect_uris=[REDIRECT],
                                            token_endpoint_auth_method="none"),
        storage=storage, redirect_handler=person.redirect_handler, callback_handler=person.callback_handler,
        client_metadata_url=url)

    async def session():
        async with httpx2.AsyncClient(auth=provider, verify=ssl.create_default_context(cafile=stack.cafile),
                                      timeout=httpx2.Timeout(60, read=120)) as http:
            async with Client(streamable_http_client(stack.public + "/mcp", http_client=http)) as client:
                return await client.list_tools()

    tools = asyncio.run(asyncio.wait_for(session(), timeout=240))
    assert tools.tools == []
    assert storage.client_info.client_id == url
    status, _, data = stack.request("GET", "/api/auth/oauth2/get-consents", headers={"Cookie": cookie})
    assert [app["clientId"] for app in json.loads(data)] == [url]

    # An operator who disables the client ends it at once, while its document is still fresh
    # (max-age=60) and so not fetched again.
    shown = "/api/auth/oauth2/public-client?client_id=" + urllib.parse.quote(url, safe="")
    assert stack.request("GET", shown, headers={"Cookie": cookie})[0] == 200
    subprocess.run(["psql", stack.database_url, "-q", "-c",
                    f"""UPDATE "oauthClient" SET "disabled" = true WHERE "clientId" = '{url}'"""], check=True)
    assert stack.request("GET", shown, headers={"Cookie": cookie})[0] == 404


def test_metadata_documents_that_could_be_abused_are_refused(stack, documents):
    port = urllib.parse.urlsplit(documents).port
    for path in ("/redirect.json", "/big.json", "/other.json", "/secret.json", "/missing.json"):
        status, location = authorize_status(stack, documents + path)
        assert status == 302 and location.startswith(stack.public + "/oauth-error?error=invalid_client"), (path, location)
    # A private address is refused before anything is fetched.
    before = list(MetadataDocuments.requested)
    status, location = authorize_status(stack, f"https://127.0.0.1:{port}/private.json")
    assert location.startswith(stack.public + "/oauth-error?error=invalid_client"), location
    assert "non-public" in urllib.parse.unquote_plus(location)
    assert "/private.json" not in MetadataDocuments.requested and MetadataDocuments.requested == before
    # Nothing was stored for the refused documents.
    status, _, data = stack.request("GET", "/.well-known/oauth-authorization-server")
    assert json.loads(data)["client_id_metadata_document_supported"] is True
