"""The web console in a real browser (Debian's Chromium, headless, driven by Selenium) against
both services behind the real Traefik, with fake Linear and Claude: sign up, no connections,
connect Linear through the fake's authorize step, run the agent and watch the streamed answer
and its tool step, disconnect, sign out. A screenshot of each screen is saved under
.build/console-screenshots; the pages log no errors (CSP violations included) and every
request they make stays on the console's origin."""
import json
import pathlib
import shutil
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import ROOT, Stack

SHOTS = ROOT / ".build" / "console-screenshots"


class FakeLinearAndClaude(BaseHTTPRequestHandler):
    """Linear's authorize page, token endpoint and GraphQL; Claude's streamed Messages API."""
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json", headers=()):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/oauth/authorize":  # the user consents at once
            query = dict(urllib.parse.parse_qsl(url.query))
            target = query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": "fake-code", "state": query["state"]})
            self.reply(302, "", "text/plain", [("Location", target)])
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/oauth/token":
            self.reply(200, {"access_token": "lin-browser-token", "refresh_token": "lin-browser-refresh", "token_type": "Bearer",
                             "expires_in": 86399, "scope": "read,write"})
        elif self.path == "/oauth/revoke":
            self.reply(200, {})
        elif self.path == "/graphql":
            query = json.loads(body)["query"]
            if "issueCreate" in query:
                self.reply(200, {"data": {"issueCreate": {"success": True, "issue": {
                    "id": "iss-9", "identifier": "ENG-9", "title": "Crash", "url": "https://linear.app/browser/issue/ENG-9"}}}})
            elif "teams" in query:
                self.reply(200, {"data": {"teams": {"nodes": [{"id": "team-1", "key": "ENG", "name": "Engineering"}]}}})
            else:
                self.reply(200, {"data": {"viewer": {"id": "u1", "name": "Ada"}, "organization": {"id": "org-browser", "name": "Browser Org"}}})
        elif self.path == "/v1/messages":
            messages = json.loads(body)["messages"]
            asked = messages[0]["content"][0].get("text", "")
            if asked.startswith("File"):
                # A write: the console shows it for approval before it is made.
                if len(messages) == 1:
                    blocks = [{"type": "tool_use", "id": "toolu_b2", "name": "linear_create_issue",
                               "input": {"teamId": "team-1", "title": "Crash"}}]
                    stop = "tool_use"
                else:
                    blocks = [{"type": "text", "text": "Filed ENG-9."}]
                    stop = "end_turn"
            elif len(messages) == 1:
                blocks = [{"type": "tool_use", "id": "toolu_b1", "name": "linear_list_teams", "input": {}}]
                stop = "tool_use"
            else:
                blocks = [{"type": "text", "text": "You have one team: Engineering."}]
                stop = "end_turn"
            self.reply(200, self.stream(blocks, stop), "text/event-stream")
        else:
            self.reply(404, {"error": "not found"})

    @staticmethod
    def stream(blocks, stop):
        def event(name, value):
            return f"event: {name}\ndata: {json.dumps(value)}\n\n"
        text = event("message_start", {"type": "message_start", "message": {"id": "msg_b", "usage": {"input_tokens": 5, "output_tokens": 1}}})
        for index, block in enumerate(blocks):
            if block["type"] == "tool_use":
                start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                text += event("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
                text += event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                      "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}})
            else:
                text += event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
                for part in (block["text"][:10], block["text"][10:]):
                    text += event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": part}})
            text += event("content_block_stop", {"type": "content_block_stop", "index": index})
        text += event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 9}})
        return text + event("message_stop", {"type": "message_stop"})


@pytest.fixture(scope="module")
def browser_stack():
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        pytest.fail("chromium and chromium-driver are not installed (scripts/ensure-packages.sh installs them)")
    fake = ThreadingHTTPServer(("127.0.0.1", 0), FakeLinearAndClaude)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{fake.server_address[1]}"
    stack = Stack(pathlib.Path(tempfile.mkdtemp(prefix="connectors-console-")), {
        "LINEAR_CLIENT_ID": "lin-client", "LINEAR_CLIENT_SECRET": "lin-secret", "LINEAR_URL": base, "LINEAR_API_URL": base,
        "ANTHROPIC_API_KEY": "sk-ant-browser", "ANTHROPIC_MODEL": "claude-browser", "ANTHROPIC_BASE_URL": base,
    })
    try:
        stack.start()
        yield stack, base
    finally:
        stack.stop()
        fake.shutdown()


@pytest.fixture(scope="module")
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,900"):
        options.add_argument(argument)
    options.accept_insecure_certs = True  # the stack's self-signed certificate
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


def test_a_newcomer_signs_up_connects_linear_asks_the_agent_and_signs_out(browser_stack, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    stack, fake_base = browser_stack
    SHOTS.mkdir(parents=True, exist_ok=True)
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
    # Connecting navigates away and back: elements of the old page go stale meanwhile, and
    # chromedriver can answer a read made mid-navigation with "unhandled inspector error".
    # The wait retries those; it still fails if the condition is not met in time (a roomy time:
    # a sign-up's password hash and the agent's turns can take many seconds on a loaded machine).
    wait = WebDriverWait(driver, 60, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException, WebDriverException))

    def visible(css):
        return wait.until(shown.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def shot(name):
        driver.save_screenshot(str(SHOTS / f"{name}.png"))

    driver.get(stack.public + "/")
    visible("#auth-form")
    # GitHub sign-in is not configured for this stack, so it is not offered.
    assert driver.find_elements(By.ID, "github-sign-in") == []
    shot("1-sign-in")
    driver.find_element(By.ID, "auth-switch").click()
    visible("#name").send_keys("Browser User")
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys("short")
    driver.find_element(By.ID, "auth-submit").click()
    # The API's error appears next to the field it is about.
    wait.until(lambda d: d.find_element(By.ID, "password-error").text != "")
    shot("2-sign-up-error")
    driver.find_element(By.ID, "password").clear()
    driver.find_element(By.ID, "password").send_keys("browser-password-1")
    driver.find_element(By.ID, "auth-submit").click()

    visible("#home-view")
    wait.until(lambda d: d.find_element(By.ID, "no-connections").is_displayed())
    shot("3-no-connections")

    # Connect Linear: our start route → the fake's authorize page → our callback → the console
    # finishes the link.
    driver.find_element(By.CSS_SELECTOR, "[data-connect=linear]").click()
    wait.until(lambda d: "Connected linear" in d.find_element(By.ID, "status").text)
    row = visible("#connections tbody tr")
    assert "Browser Org" in row.text and "active" in row.text
    assert driver.current_url == stack.public + "/"
    shot("4-connected")

    # The agent, streamed: the tool step and then the answer.
    driver.find_element(By.ID, "prompt").send_keys("Which teams do I have?")
    driver.find_element(By.ID, "agent-submit").click()
    wait.until(lambda d: d.find_element(By.ID, "answer").text == "You have one team: Engineering.")
    steps = driver.find_elements(By.CSS_SELECTOR, "#steps li")
    assert [step.text for step in steps] == ["linear_list_teams {}"]
    shot("5-agent")

    # A write waits for the person: shown in the run panel with Approve and Deny, and listed.
    prompt = driver.find_element(By.ID, "prompt")
    prompt.clear()
    prompt.send_keys("File the crash in ENG")
    driver.find_element(By.ID, "agent-submit").click()
    pending = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#run-approvals .approval"))
    assert "Create a Linear issue (team team-1)" in pending[0].text
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#pending .approval"))
    assert driver.find_element(By.ID, "answer").text == ""
    shot("5b-approval")
    pending[0].find_element(By.XPATH, ".//button[text()='Approve']").click()
    wait.until(lambda d: d.find_element(By.ID, "answer").text == "Filed ENG-9.")
    assert [step.text.split(" ")[0] for step in driver.find_elements(By.CSS_SELECTOR, "#steps li")] == ["linear_create_issue"]
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == 2)
    assert "File the crash in ENG" in driver.find_element(By.CSS_SELECTOR, "#runs tbody tr").text

    # The Activity page: the call and the decision, newest first.
    driver.find_element(By.ID, "nav-activity").click()
    wait.until(lambda d: d.current_url == stack.public + "/activity")
    rows = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#activity tbody tr"))
    texts = [row.text for row in rows]
    assert "tool.call linear_create_issue" in texts[0] and "ok" in texts[0]
    assert "approval.approved linear_create_issue" in texts[1]
    assert any("connection.connected" in text for text in texts)
    shot("5c-activity")
    driver.find_element(By.ID, "nav-home").click()
    wait.until(lambda d: d.find_element(By.ID, "home-view").is_displayed())

    # Home lists the connections again once its fetch answers: wait for the row's button.
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#connections tbody button")).click()
    wait.until(lambda d: d.find_element(By.ID, "no-connections").is_displayed())
    shot("6-disconnected")

    # Connection fixation: someone completes a flow for *their* Linear account without a JWT
    # (an unbound link code) and sends the user the landing URL. The console does not link it.
    status, started, body = stack.request("GET", "/oauth/linear")
    assert status == 200
    attackers_cookie = started["Set-Cookie"].split(";")[0]
    consent = urllib.request.Request(json.loads(body)["url"])

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None
    try:
        urllib.request.build_opener(NoRedirect).open(consent, timeout=60)
        raise AssertionError("the fake authorize page did not redirect")
    except urllib.error.HTTPError as redirect:
        callback = urllib.parse.urlsplit(redirect.headers["Location"])
    status, headers, _ = stack.request(
        "GET", callback.path + "?" + callback.query, headers={"Cookie": attackers_cookie})
    assert status == 302
    landing = urllib.parse.urlsplit(headers["Location"])
    assert "link=" in landing.query
    driver.get(stack.public + landing.path + "?" + landing.query)
    wait.until(lambda d: "did not start connecting" in d.find_element(By.ID, "status").text)
    wait.until(lambda d: d.find_element(By.ID, "no-connections").is_displayed())
    assert driver.current_url == stack.public + "/"

    # A provider without its variables says so instead of failing.
    driver.find_element(By.CSS_SELECTOR, "[data-connect=slack]").click()
    wait.until(lambda d: "SLACK_CLIENT_ID" in d.find_element(By.ID, "status").text)

    # A 401 from the connectors service renews the JWT once and retries (the page's fetch is
    # made to answer 401 for the next connectors call; WebDriver scripts are not bound by CSP).
    refuse = """
        window.refusals = arguments[0]; const real = window.fetch;
        window.fetch = (url, options) => String(url).startsWith('/oauth/') && window.refusals-- > 0
          ? Promise.resolve(new Response('{"code":"UNAUTHORIZED","message":"expired"}', {status: 401, headers: {'content-type': 'application/json'}}))
          : real(url, options);"""
    tokens = "return performance.getEntriesByType('resource').filter(e => e.name.endsWith('/api/auth/token')).length"
    driver.execute_script("document.getElementById('status').textContent = ''")
    before = driver.execute_script(tokens)
    driver.execute_script(refuse, 1)
    driver.find_element(By.CSS_SELECTOR, "[data-connect=slack]").click()
    wait.until(lambda d: "SLACK_CLIENT_ID" in d.find_element(By.ID, "status").text)
    assert driver.execute_script(tokens) == before + 1
    assert driver.find_element(By.ID, "home-view").is_displayed()

    # On a phone-sized screen and at 200% zoom nothing needs scrolling sideways.
    for name, width, scale in (("phone", 375, 1), ("zoom-200", 550, 2)):
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": 800, "deviceScaleFactor": scale, "mobile": name == "phone"})
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        shot(f"7-{name}")
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    driver.find_element(By.ID, "sign-out").click()
    visible("#auth-form")
    assert driver.find_element(By.ID, "home-view").is_displayed() is False
    shot("8-signed-out")

    # Signing in again with the keyboard alone: focus moves field to field, Enter submits.
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    driver.find_element(By.ID, "email").click()
    ActionChains(driver).send_keys(email, Keys.TAB, "browser-password-1", Keys.ENTER).perform()
    visible("#home-view")
    assert driver.find_element(By.ID, "who").text == email

    # A second 401 after the renewal sends the user to sign in.
    driver.execute_script(refuse, 2)
    driver.find_element(By.CSS_SELECTOR, "[data-connect=linear]").click()
    visible("#auth-form")
    assert driver.find_element(By.ID, "home-view").is_displayed() is False

    # Nothing went wrong in the page (a CSP violation is logged as an error), and every request
    # stayed on the console's origin.
    # (An API answering 4xx/5xx on purpose — the short password, the unconfigured provider — is
    # logged by Chrome as a failed load; those are shown to the user, not page errors.)
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
              and not (entry["source"] == "network" and "the server responded with a status of" in entry["message"])]
    assert errors == []
    origins = driver.execute_script("return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)")
    assert set(origins) <= {stack.public}


class RedirectCatcher(BaseHTTPRequestHandler):
    """An MCP client's loopback redirect URI: records the query it is sent."""
    received = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        RedirectCatcher.received.append(self.path)
        data = b"<!doctype html><title>done</title><p>You can close this window.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_a_person_signs_in_and_allows_an_mcp_client_then_revokes_it(browser_stack, driver):
    import base64
    import hashlib
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    stack, _ = browser_stack
    SHOTS.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(driver, 60, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException, WebDriverException))

    def visible(css):
        return wait.until(shown.visibility_of_element_located((By.CSS_SELECTOR, css)))

    catcher = ThreadingHTTPServer(("127.0.0.1", 0), RedirectCatcher)
    threading.Thread(target=catcher.serve_forever, daemon=True).start()
    redirect = f"http://127.0.0.1:{catcher.server_address[1]}/callback"
    try:
        status, _, body = stack.request("POST", "/api/auth/oauth2/register",
                                        json.dumps({"client_name": "Browser MCP client", "redirect_uris": [redirect]}),
                                        {"Content-Type": "application/json"})
        assert status == 201, body
        client_id = json.loads(body)["client_id"]
        verifier = uuid.uuid4().hex * 2
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": client_id, "redirect_uri": redirect, "state": "browser-state",
            "scope": "connectors:read offline_access", "code_challenge": challenge, "code_challenge_method": "S256",
            "resource": stack.public + "/mcp"})

        # A GitHub sign-in that did not complete lands on the console's error page, in words.
        driver.get(stack.public + "/error?error=state_mismatch")
        visible("#oauth-error-view")
        assert "started in another tab" in driver.find_element(By.ID, "oauth-error-text").text
        assert driver.find_element(By.ID, "oauth-error-title").text == "Sign-in did not complete"
        assert driver.find_element(By.CSS_SELECTOR, "#oauth-error-back a").get_attribute("href") == stack.public + "/"

        # A stranger to this browser: signed out first.
        driver.get(stack.public + "/")
        driver.delete_all_cookies()
        driver.get(f"{stack.public}/api/auth/oauth2/authorize?{query}")
        visible("#auth-form")
        assert urllib.parse.urlsplit(driver.current_url).path == "/sign-in"
        driver.find_element(By.ID, "auth-switch").click()
        visible("#name").send_keys("MCP Person")
        driver.find_element(By.ID, "email").send_keys(f"mcp-{uuid.uuid4().hex[:8]}@example.com")
        driver.find_element(By.ID, "password").send_keys("browser-password-1")
        driver.find_element(By.ID, "auth-submit").click()

        # The consent page: who asks, for what, and where the answer goes (a program on this computer).
        visible("#consent-view")
        wait.until(lambda d: d.find_element(By.ID, "consent-client").text == "Browser MCP client")
        scopes = [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#consent-scopes li")]
        assert scopes == ["Read what your connected GitHub, Linear and Slack accounts can see",
                          "Keep access while you are away, without asking again"]
        assert driver.find_element(By.ID, "consent-host").text == f"127.0.0.1:{catcher.server_address[1]}"
        assert driver.find_element(By.ID, "consent-loopback").is_displayed()
        driver.save_screenshot(str(SHOTS / "9-consent.png"))
        driver.find_element(By.ID, "consent-allow").click()

        wait.until(lambda d: RedirectCatcher.received)
        answer = urllib.parse.parse_qs(urllib.parse.urlsplit(RedirectCatcher.received[0]).query)
        assert answer["state"] == ["browser-state"] and answer["iss"] == [stack.public] and answer["code"]
        status, _, body = stack.request("POST", "/api/auth/oauth2/token", urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": answer["code"][0], "redirect_uri": redirect,
            "code_verifier": verifier, "client_id": client_id, "resource": stack.public + "/mcp"}),
            {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200, body
        assert json.loads(body)["scope"] == "connectors:read offline_access"

        # The console lists the app; revoking it empties the list.
        driver.get(stack.public + "/")
        row = visible("#apps tbody tr")
        assert "Browser MCP client" in row.text and "read" in row.text
        assert f"claude mcp add --transport http connectors {stack.public}/mcp" in driver.page_source
        driver.save_screenshot(str(SHOTS / "10-connected-apps.png"))
        driver.find_element(By.CSS_SELECTOR, "#apps tbody button").click()
        wait.until(lambda d: d.find_element(By.ID, "no-apps").is_displayed())
    finally:
        catcher.shutdown()
