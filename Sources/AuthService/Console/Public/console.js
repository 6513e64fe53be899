// The web console: plain ES module, same-origin APIs only (session cookie for the auth service,
// a JWT from /api/auth/token for the connectors service).
const $ = (selector) => document.querySelector(selector);
const state = { user: null, jwt: null, jwtExpires: 0, signingUp: false };
// An MCP client's authorization in progress: the signed query the server sent the browser here with.
const oauthQuery = ["/sign-in", "/consent"].includes(location.pathname) && location.search.length > 1
  ? location.search.slice(1) : null;
const views = ["auth-view", "home-view", "activity-view", "consent-view", "oauth-error-view"];

function show(view) {
  for (const id of views) $(`#${id}`).hidden = id !== view;
}

function announce(message) {
  $("#status").textContent = message;
}

async function call(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const type = response.headers.get("content-type") || "";
  const body = type.includes("application/json") ? await response.json() : null;
  if (!response.ok) {
    const error = new Error(body?.message || `The request failed (${response.status}).`);
    error.code = body?.code || "";
    error.status = response.status;
    throw error;
  }
  return { body, response };
}

function json(method, value) {
  return { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(value) };
}

// ---- The JWT for the connectors service: renewed a minute before it expires.
function remember(jwt) {
  if (!jwt) return;
  try {
    const claims = JSON.parse(atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    state.jwt = jwt;
    state.jwtExpires = claims.exp * 1000;
  } catch {
    state.jwt = null;
  }
}

async function jwt(renew = false) {
  if (!renew && state.jwt && state.jwtExpires - Date.now() > 60_000) return state.jwt;
  const { body } = await call("/api/auth/token");
  remember(body.token);
  return state.jwt;
}

// A 401 from the connectors service renews the JWT once, then sends the user to sign in.
async function connectors(path, options = {}) {
  for (const renew of [false, true]) {
    const headers = { ...(options.headers || {}), Authorization: `Bearer ${await jwt(renew)}` };
    try {
      return await call(path, { ...options, headers });
    } catch (error) {
      if (error.status !== 401) throw error;
      if (renew) {
        showAuth();
        throw error;
      }
    }
  }
}

// ---- Sign in and sign up.
function showAuth() {
  state.user = null;
  state.jwt = null;
  $("#account").hidden = true;
  show("auth-view");
  setMode(state.signingUp);
}

function setMode(signingUp) {
  state.signingUp = signingUp;
  $("#auth-title").textContent = signingUp ? "Create an account" : "Sign in";
  $("#auth-submit").textContent = signingUp ? "Create account" : "Sign in";
  $("#auth-switch").textContent = signingUp ? "Have an account? Sign in" : "New here? Create an account";
  $("#name-field").hidden = !signingUp;
  $("#password").autocomplete = signingUp ? "new-password" : "current-password";
  clearErrors();
}

function clearErrors() {
  for (const id of ["name-error", "email-error", "password-error", "form-error"]) $(`#${id}`).textContent = "";
  for (const id of ["name", "email", "password"]) $(`#${id}`).removeAttribute("aria-invalid");
}

// The API's message goes next to the field it is about.
function showError(error) {
  const text = `${error.code} ${error.message}`.toLowerCase();
  const field = ["password", "email", "name"].find((name) => text.includes(name)) || "form";
  $(`#${field}-error`).textContent = error.message;
  if (field !== "form") {
    $(`#${field}`).setAttribute("aria-invalid", "true");
    $(`#${field}`).focus();
  }
}

async function submitAuth(event) {
  event.preventDefault();
  clearErrors();
  const email = $("#email").value.trim();
  const password = $("#password").value;
  const resume = oauthQuery ? { oauth_query: oauthQuery } : {};
  try {
    let answer;
    if (state.signingUp) {
      answer = await call("/api/auth/sign-up/email",
        json("POST", { name: $("#name").value.trim() || email, email, password, ...resume }));
    } else {
      answer = await call("/api/auth/sign-in/email", json("POST", { email, password, ...resume }));
    }
    $("#password").value = "";
    // Signing in for an app: the server says where the authorization goes next.
    if (oauthQuery && answer.body?.url) {
      location.assign(answer.body.url);
      return;
    }
    await start();
  } catch (error) {
    showError(error);
  }
}

async function githubSignIn() {
  try {
    const { body } = await call("/api/auth/sign-in/social", json("POST", {
      provider: "github",
      // Signing in for an app: come back to /sign-in with the authorization, which then resumes.
      callbackURL: oauthQuery ? `/sign-in?${oauthQuery}` : "/",
    }));
    location.assign(body.url);
  } catch (error) {
    $("#form-error").textContent = error.message;
  }
}

async function signOut() {
  try {
    await call("/api/auth/sign-out", json("POST", {}));
  } finally {
    showAuth();
    announce("Signed out.");
    $("#email").focus();
  }
}

// A table row: text cells, then a button that acts on the row.
function tableRow(texts, buttonText, buttonLabel, action) {
  const row = document.createElement("tr");
  for (const text of texts) {
    const cell = document.createElement("td");
    cell.textContent = text;
    row.append(cell);
  }
  const cell = document.createElement("td");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary";
  button.textContent = buttonText;
  button.setAttribute("aria-label", buttonLabel);
  button.addEventListener("click", action);
  cell.append(button);
  row.append(cell);
  return row;
}

// ---- Connections.
async function loadConnections() {
  const { body } = await connectors("/oauth/connections");
  const rows = $("#connections tbody");
  rows.replaceChildren();
  for (const connection of body.connections) {
    // Who the agent acts as there: "Acme, as Ada Lovelace".
    const who = connection.providerUserName || connection.providerUserId;
    const account = (connection.accountName || connection.accountId) + (who ? `, as ${who}` : "");
    rows.append(tableRow(
      [connection.provider, account,
       connection.status.replace("_", " ") + (connection.statusReason ? ` — ${connection.statusReason}` : ""),
       new Date(connection.createdAt).toLocaleString()],
      "Disconnect", `Disconnect ${connection.provider} ${account}`, () => disconnect(connection)));
  }
  $("#connections").hidden = body.connections.length === 0;
  $("#no-connections").hidden = body.connections.length !== 0;
}

async function connect(provider) {
  try {
    const { body } = await connectors(`/oauth/${provider}`);
    // Only a flow this tab started is linked when the provider sends the browser back.
    sessionStorage.setItem("connectingProvider", provider);
    location.assign(body.url);
  } catch (error) {
    announce(error.message);
  }
}

async function disconnect(connection) {
  try {
    await connectors(`/oauth/connections/${encodeURIComponent(connection.id)}`, { method: "DELETE" });
    announce(`Disconnected ${connection.provider}.`);
    await loadConnections();
  } catch (error) {
    announce(error.message);
  }
}

// /connections?provider=P&link=CODE: where the OAuth callback lands; finish the link.
async function finishLink() {
  const query = new URLSearchParams(location.search);
  const provider = query.get("provider");
  if (location.pathname !== "/connections" || !provider) return;
  history.replaceState(null, "", "/");
  const started = sessionStorage.getItem("connectingProvider");
  sessionStorage.removeItem("connectingProvider");
  if (query.get("error")) {
    announce(`Connecting ${provider} failed: ${query.get("error").replace(/_/g, " ")}.`);
    return;
  }
  // A link someone else started (a crafted URL) would attach *their* account to this user:
  // the agent would then act in their workspace. Never link a flow this tab did not start.
  if (started !== provider) {
    announce(`Not linking a ${provider} account: this browser did not start connecting it.`);
    return;
  }
  try {
    await connectors(`/oauth/${encodeURIComponent(provider)}/link`, json("POST", { code: query.get("link") || "" }));
    announce(`Connected ${provider}.`);
  } catch (error) {
    announce(`Connecting ${provider} failed: ${error.message}`);
  }
}

// ---- MCP clients: consent, connected apps, how to connect one.
const scopeWords = {
  "connectors:read": "Read what your connected GitHub, Linear and Slack accounts can see",
  "connectors:write": "Create and change things there for you: issues, comments, messages",
  "offline_access": "Keep access while you are away, without asking again",
  openid: "Know which Connectors account is yours",
  profile: "See your name and picture",
  email: "See your email address",
};

async function showConsent() {
  const query = new URLSearchParams(oauthQuery);
  const clientId = query.get("client_id") || "";
  const { body } = await call(`/api/auth/oauth2/public-client?client_id=${encodeURIComponent(clientId)}`);
  $("#consent-client").textContent = body.client_name || clientId;
  $("#consent-who").textContent = state.user.email;
  const scopes = $("#consent-scopes");
  scopes.replaceChildren();
  for (const scope of (query.get("scope") || "connectors:read").split(" ").filter(Boolean)) {
    const item = document.createElement("li");
    item.textContent = scopeWords[scope] || scope;
    scopes.append(item);
  }
  let host = "";
  try {
    host = new URL(query.get("redirect_uri") || "").host;
  } catch {}
  $("#consent-host").textContent = host || "the app";
  $("#consent-loopback").hidden = !/^(127\.0\.0\.1|\[::1\]|localhost)(:\d+)?$/.test(host);
  show("consent-view");
  $("#consent-allow").focus();
}

async function decide(accept) {
  for (const id of ["consent-allow", "consent-deny"]) $(`#${id}`).disabled = true;
  try {
    const { body } = await call("/api/auth/oauth2/consent", json("POST", { accept, oauth_query: oauthQuery }));
    location.assign(body.url);
  } catch (error) {
    announce(error.status === 400 ? "This request has expired. Start connecting the app again." : error.message);
  }
}

async function loadApps() {
  const { body } = await call("/api/auth/oauth2/get-consents");
  const rows = $("#apps tbody");
  rows.replaceChildren();
  for (const app of body) {
    const access = app.scopes.filter((scope) => scope.startsWith("connectors:")).map((scope) => scope.slice(11));
    const name = app.name || app.clientId;
    rows.append(tableRow([name, access.join(" and ") || "sign-in only", new Date(app.lastUsedAt).toLocaleString()],
      "Revoke", `Revoke ${name}`, () => revokeApp(app)));
  }
  $("#apps").hidden = body.length === 0;
  $("#no-apps").hidden = body.length !== 0;
}

async function revokeApp(app) {
  try {
    await call("/api/auth/oauth2/delete-consent", json("POST", { id: app.id }));
    announce(`Revoked ${app.name || app.clientId}.`);
    await loadApps();
  } catch (error) {
    announce(error.message);
  }
}

function showMCPPanel() {
  const url = `${location.origin}/mcp`;
  $("#mcp-url").textContent = url;
  $("#mcp-claude-code").textContent = `claude mcp add --transport http connectors ${url}`;
}

// ---- The agent, streamed as server-sent events.
async function runAgent(event) {
  event.preventDefault();
  const prompt = $("#prompt").value.trim();
  if (!prompt) return;
  $("#steps").replaceChildren();
  $("#run-approvals").replaceChildren();
  $("#answer").textContent = "";
  $("#agent-submit").disabled = true;
  announce("Running…");
  try {
    const { response } = await connectors("/agent/run", {
      ...json("POST", { prompt }), headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        handleEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (error) {
    announce(error.message);
  } finally {
    $("#agent-submit").disabled = false;
  }
}

// ---- Approvals: what the assistant waits to do until you say yes.
// "Create a Linear issue (team ENG)" and the input in brief.
function approvalItem(approval, onDecided) {
  const item = document.createElement("li");
  item.className = "approval";
  const title = document.createElement("strong");
  title.textContent = approval.title + (approval.target ? ` (${approval.target})` : "");
  const input = document.createElement("code");
  input.textContent = JSON.stringify(approval.input);
  const until = document.createElement("p");
  until.textContent = `Waits until ${new Date(approval.expiresAt).toLocaleTimeString()}; no answer counts as no.`;
  const buttons = document.createElement("div");
  buttons.className = "connect";
  buttons.setAttribute("role", "group");
  buttons.setAttribute("aria-label", `Your decision on: ${title.textContent}`);
  for (const [decision, label] of [["approve", "Approve"], ["deny", "Deny"]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    if (decision === "deny") button.className = "secondary";
    button.addEventListener("click", async () => {
      for (const each of buttons.querySelectorAll("button")) each.disabled = true;
      try {
        await connectors(`/agent/approvals/${encodeURIComponent(approval.id)}`, json("POST", { decision }));
        announce(decision === "approve" ? `Approved: ${title.textContent}.` : `Denied: ${title.textContent}.`);
      } catch (error) {
        announce(error.message);
      }
      item.remove();
      onDecided?.();
    });
    buttons.append(button);
  }
  item.append(title, input, until, buttons);
  return item;
}

async function loadPending() {
  const { body } = await connectors("/agent/approvals");
  const list = $("#pending");
  list.replaceChildren(...body.approvals.map((approval) => approvalItem(approval, () => loadPending())));
  $("#no-pending").hidden = body.approvals.length !== 0;
}

async function loadRuns() {
  const [{ body }, { body: usage }] = await Promise.all([
    connectors("/agent/runs?limit=10"), connectors("/agent/usage"),
  ]);
  const rows = $("#runs tbody");
  rows.replaceChildren();
  for (const run of body.runs) {
    const row = document.createElement("tr");
    for (const text of [run.prompt, run.trigger, run.status.replace("_", " "), new Date(run.createdAt).toLocaleString()]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    rows.append(row);
  }
  $("#runs").hidden = body.runs.length === 0;
  $("#no-runs").hidden = body.runs.length !== 0;
  const used = usage.today.inputTokens + usage.today.outputTokens;
  $("#usage").textContent = usage.budget > 0
    ? `Today: ${used.toLocaleString()} of ${usage.budget.toLocaleString()} tokens.`
    : `Today: ${used.toLocaleString()} tokens.`;
}

const policyWords = { allow: "Run it", ask: "Ask me first", deny: "Never" };

async function loadPolicies() {
  const { body } = await connectors("/agent/policy");
  const rows = $("#policies tbody");
  rows.replaceChildren();
  for (const tool of body.tools) {
    const row = document.createElement("tr");
    const name = document.createElement("td");
    name.textContent = tool.title;
    const kind = document.createElement("td");
    kind.textContent = tool.risk === "write" ? "changes things" : "reads";
    const cell = document.createElement("td");
    const select = document.createElement("select");
    select.setAttribute("aria-label", `Policy for ${tool.title}`);
    select.dataset.tool = tool.name;
    for (const value of ["allow", "ask", "deny"]) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = policyWords[value];
      option.selected = value === tool.policy;
      select.append(option);
    }
    select.addEventListener("change", async () => {
      try {
        await connectors("/agent/policy", json("PUT", { policies: { [tool.name]: select.value } }));
        announce(`${tool.title}: ${policyWords[select.value].toLowerCase()}.`);
      } catch (error) {
        announce(error.message);
        await loadPolicies();
      }
    });
    cell.append(select);
    row.append(name, kind, cell);
    rows.append(row);
  }
}

// ---- Activity: the audit trail, a page at a time.
const activity = { cursor: null };

async function loadActivity(more = false) {
  const query = more && activity.cursor ? `?limit=50&cursor=${encodeURIComponent(activity.cursor)}` : "?limit=50";
  const { body } = await connectors(`/audit${query}`);
  const rows = $("#activity tbody");
  if (!more) rows.replaceChildren();
  for (const event of body.events) {
    const row = document.createElement("tr");
    const what = [event.action, event.tool].filter(Boolean).join(" ");
    const from = [event.surface, event.clientId, event.decidedBy || event.actor].filter(Boolean).join(", ");
    for (const text of [new Date(event.at).toLocaleString(), what, event.target || "", from, event.outcome]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    rows.append(row);
  }
  activity.cursor = body.nextCursor || null;
  $("#activity-more").hidden = !activity.cursor;
  $("#activity").hidden = rows.children.length === 0;
  $("#no-activity").hidden = rows.children.length !== 0;
}

function handleEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  const value = JSON.parse(data.join("\n") || "{}");
  if (name === "text") {
    $("#answer").textContent += value.text;
  } else if (name === "step") {
    const item = document.createElement("li");
    item.textContent = `${value.tool} ${JSON.stringify(value.input)}${value.isError ? " — failed" : ""}`;
    $("#steps").append(item);
  } else if (name === "approval") {
    // The run waits before these calls; the stream goes on once they are decided.
    for (const approval of value.approvals) $("#run-approvals").append(approvalItem(approval, () => loadPending()));
    announce("The assistant is waiting for your approval.");
    loadPending().catch(() => {});
  } else if (name === "done") {
    $("#run-approvals").replaceChildren();
    $("#answer").textContent = value.output;
    announce("Done.");
    loadRuns().catch(() => {});
  } else if (name === "error") {
    announce(`The run failed: ${value.error || value.message}`);
  }
}

// Why a GitHub sign-in ended at `/error` (the auth service's codes, as Better Auth names them).
const signInErrors = {
  access_denied: "GitHub sign-in was cancelled.",
  state_mismatch: "The sign-in expired or was started in another tab or browser. Please try again.",
  email_not_found: "GitHub did not share a verified email address for your account.",
  account_not_linked: "An account with this email exists but cannot be linked to this GitHub account.",
};

// ---- Start: who is signed in?
async function start() {
  if (location.pathname === "/error") {
    const code = new URLSearchParams(location.search).get("error") || "";
    $("#oauth-error-title").textContent = "Sign-in did not complete";
    $("#oauth-error-text").textContent = signInErrors[code] || `Sign-in failed (${code || "unknown error"}).`;
    $("#oauth-error-back").hidden = false;
    show("oauth-error-view");
    return;
  }
  if (location.pathname === "/oauth-error") {
    const query = new URLSearchParams(location.search);
    $("#oauth-error-text").textContent = `${query.get("error_description") || query.get("error") || "Unknown error"}.`;
    show("oauth-error-view");
    return;
  }
  const { body, response } = await call("/api/auth/get-session");
  if (!body?.user) {
    showAuth();
    return;
  }
  remember(response.headers.get("set-auth-jwt"));
  state.user = body.user;
  $("#who").textContent = body.user.email;
  $("#account").hidden = false;
  const wantsSignIn = (new URLSearchParams(oauthQuery || "").get("prompt") || "").split(" ").includes("login");
  if (oauthQuery && location.pathname === "/sign-in" && wantsSignIn) {
    // The app asked for a fresh sign-in (prompt=login): sign in again, then it resumes.
    showAuth();
    return;
  }
  if (oauthQuery && location.pathname === "/sign-in") {
    // Already signed in: continue the authorization.
    location.assign(`/api/auth/oauth2/authorize?${oauthQuery}`);
    return;
  }
  if (oauthQuery) {
    await showConsent();
    return;
  }
  if (location.pathname === "/activity") {
    show("activity-view");
    await loadActivity();
    return;
  }
  show("home-view");
  showMCPPanel();
  await finishLink();
  // The agent's panels must not keep the connections from showing.
  const optional = [loadPending(), loadRuns(), loadPolicies()].map((loading) =>
    loading.catch((error) => announce(error.message)));
  await Promise.all([loadConnections(), loadApps(), ...optional]);
}

$("#auth-form").addEventListener("submit", submitAuth);
$("#auth-switch").addEventListener("click", () => setMode(!state.signingUp));
$("#github-sign-in")?.addEventListener("click", githubSignIn);
$("#sign-out").addEventListener("click", signOut);
$("#agent-form").addEventListener("submit", runAgent);
$("#activity-more").addEventListener("click", () => loadActivity(true).catch((error) => announce(error.message)));
$("#consent-allow").addEventListener("click", () => decide(true));
$("#consent-deny").addEventListener("click", () => decide(false));
for (const button of document.querySelectorAll("[data-connect]")) {
  button.addEventListener("click", () => connect(button.dataset.connect));
}
start().catch((error) => {
  showAuth();
  announce(error.message);
});
