import CryptoExtras
import Foundation
import Shared

/// The connectors service's configuration, validated at start-up.
struct ConnectorsConfig: Sendable {
    var common: CommonConfig
    /// Signs OAuth state and one-time link codes.
    var jwtSecret: String
    /// Seals provider tokens at rest; previous keys still open older values.
    var secretBox: SecretBox
    var jwksURL: String
    var linear: LinearSettings
    var slack: SlackSettings
    var github: GitHubSettings
    /// Ordinary JWT routes: 100 requests per 10 seconds per user (`USER_RATE_LIMIT`).
    var userLimit = RateLimitRule(name: "connectors-user", limit: 100, window: .seconds(10))
    /// The webhook worker's batch, lease, polling and retry policy.
    var webhookWorker = WebhookWorker.Settings()
    /// How long one call to a provider may take.
    var providerTimeout: Duration = .seconds(10)
    /// Routes without a user (OAuth start and callback): 100 requests per 10 seconds per IP.
    var ipLimit = RateLimitRule(name: "connectors-ip", limit: 100, window: .seconds(10))
    /// The agent's model access (`ANTHROPIC_API_KEY` and `ANTHROPIC_MODEL`); nil disables it.
    var anthropic: AnthropicClient.Settings?
    /// How long a replica may serve a user's connection list from memory without a change
    /// (`CONNECTION_LIST_CACHE_SECONDS`): the bound on staleness for edits made to the table
    /// behind the service's back. Zero turns the cache off.
    var connectionListCacheAge: Duration = .seconds(60)
    /// How often the MCP endpoint reads revoked grants (a removed connected app stops within this).
    var revocationPoll: Duration = .seconds(10)
    /// The longest one agent run may take (`AGENT_TIMEOUT_SECONDS`).
    var agentTimeout: Duration = .seconds(120)
    /// How long runs in progress may go on once the service is asked to stop
    /// (`AGENT_SHUTDOWN_GRACE_SECONDS`); the Compose files' `stop_grace_period` covers it.
    var agentShutdownGrace: Duration = .seconds(30)
    /// `POST /agent/run`: 10 runs per minute per user (`AGENT_RATE_LIMIT`).
    var agentLimit = RateLimitRule(name: "agent-run", limit: 10, window: .seconds(60))
    /// Per user: tokens per UTC day (`AGENT_DAILY_TOKEN_BUDGET`) and runs at once
    /// (`AGENT_MAX_CONCURRENT_RUNS`); per Slack or Linear workspace, runs its webhooks started at
    /// once (`AGENT_MAX_CONCURRENT_RUNS_PER_WORKSPACE`).
    var agentLimits = AgentRunRepository.Limits()
    /// How long an approval waits before it counts as denied (`AGENT_APPROVAL_TIMEOUT_SECONDS`).
    var approvalTimeout: Duration = .seconds(900)
    /// How paused runs are continued once decided.
    var resumer = AgentResumer.Settings()
    /// Audit events older than this many days are deleted (`AUDIT_RETENTION_DAYS`).
    var auditRetentionDays = 365
    /// How long webhook events and agent runs are kept.
    var retention = RetentionSettings()
    /// Bytes webhook deliveries may hold in memory at once (`WEBHOOK_INFLIGHT_BYTES`).
    var webhookInflightBytes = 32 * 1024 * 1024
    /// Failed webhook signatures from one source within 10 minutes before it is refused for 10
    /// minutes (`WEBHOOK_FAILURE_THRESHOLD`).
    var webhookFailureThreshold = 30
    /// The lockout's key prefix in Redis.
    var webhookFailureName = "webhook-signature-fail"

    init(_ env: ConfigValues) throws(ConfigurationError) {
        self.common = try CommonConfig(env, portVariable: "CONNECTORS_PORT", defaultPort: 5002)
        self.jwtSecret = try env.secret(
            "JWT_SECRET", minLength: 32, hint: "generate one with `openssl rand -base64 32`")
        if let authSecret = env.string("BETTER_AUTH_SECRET", isSecret: true), authSecret == jwtSecret {
            throw ConfigurationError("JWT_SECRET", "must differ from BETTER_AUTH_SECRET")
        }
        let keyHint = "32 characters, or base64 of 32 bytes (`openssl rand -base64 32`)"
        let current: SecretBox.Key
        do {
            current = try SecretBox.Key(configured: env.required("ENCRYPTION_KEY", hint: keyHint, isSecret: true))
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError("ENCRYPTION_KEY", "must be \(keyHint)")
        }
        var previous = [SecretBox.Key]()
        for (index, value) in env.list("ENCRYPTION_KEY_PREVIOUS", isSecret: true).enumerated() {
            guard let key = try? SecretBox.Key(configured: value) else {
                throw ConfigurationError("ENCRYPTION_KEY_PREVIOUS", "entry \(index + 1) must be \(keyHint)")
            }
            previous.append(key)
        }
        self.secretBox = SecretBox(current: current, previous: previous)
        self.jwksURL = try env.httpURL("AUTH_JWKS_URL", default: "http://localhost:5001/.well-known/jwks.json")
        self.linear = try LinearSettings(env)
        self.userLimit.limit = try env.int("USER_RATE_LIMIT", default: 100, range: 1...1_000_000)
        self.slack = try SlackSettings(env)
        self.github = try GitHubSettings(env)
        if let key = env.string("ANTHROPIC_API_KEY", isSecret: true) {
            guard let model = env.string("ANTHROPIC_MODEL"), !model.isEmpty else {
                throw ConfigurationError(
                    "ANTHROPIC_MODEL", "is required when ANTHROPIC_API_KEY is set (for example claude-sonnet-4-5)")
            }
            var settings = AnthropicClient.Settings(apiKey: key, model: model, baseURL: common.providers.anthropic)
            settings.maxTokens = try env.int("ANTHROPIC_MAX_TOKENS", default: 4096, range: 1...128_000)
            self.anthropic = settings
        }
        self.connectionListCacheAge = .seconds(
            try env.int("CONNECTION_LIST_CACHE_SECONDS", default: 60, range: 0...3600))
        self.agentTimeout = .seconds(try env.int("AGENT_TIMEOUT_SECONDS", default: 120, range: 5...3600))
        self.webhookFailureThreshold = try env.int("WEBHOOK_FAILURE_THRESHOLD", default: 30, range: 1...100_000)
        self.agentShutdownGrace = .seconds(try env.int("AGENT_SHUTDOWN_GRACE_SECONDS", default: 30, range: 0...3600))
        self.agentLimit.limit = try env.int("AGENT_RATE_LIMIT", default: 10, range: 1...1_000_000)
        self.agentLimits.dailyTokens = try env.int(
            "AGENT_DAILY_TOKEN_BUDGET", default: 1_000_000, range: 0...1_000_000_000_000)
        self.agentLimits.concurrentRuns = try env.int("AGENT_MAX_CONCURRENT_RUNS", default: 2, range: 1...1000)
        self.agentLimits.workspaceRuns = try env.int(
            "AGENT_MAX_CONCURRENT_RUNS_PER_WORKSPACE", default: 4, range: 1...1000)
        self.approvalTimeout = .seconds(
            try env.int("AGENT_APPROVAL_TIMEOUT_SECONDS", default: 900, range: 10...604_800))
        self.auditRetentionDays = try env.int("AUDIT_RETENTION_DAYS", default: 365, range: 1...36_500)
        self.retention.webhookDays = try env.int("WEBHOOK_RETENTION_DAYS", default: 14, range: 1...36_500)
        self.retention.failedWebhookDays = try env.int(
            "WEBHOOK_FAILED_RETENTION_DAYS", default: 30, range: 1...36_500)
        self.retention.agentRunDays = try env.int("AGENT_RUN_RETENTION_DAYS", default: 90, range: 1...36_500)
        self.webhookInflightBytes = try env.int(
            "WEBHOOK_INFLIGHT_BYTES", default: 32 * 1024 * 1024, range: (1024 * 1024)...(4 * 1024 * 1024 * 1024))
    }
}

/// Linear: the OAuth app (`LINEAR_CLIENT_ID`, `LINEAR_CLIENT_SECRET`; nil when not configured),
/// `LINEAR_ACTOR` (`app`: actions appear as the application), and the webhook secret (without
/// it the receiver refuses every delivery).
struct LinearSettings: Sendable {
    var oauth: OAuthClientCredentials?
    var actor: String?
    var webhookSecret: String?

    init(_ env: ConfigValues) throws(ConfigurationError) {
        self.oauth = try OAuthClientCredentials(env, id: "LINEAR_CLIENT_ID", secret: "LINEAR_CLIENT_SECRET")
        self.actor = env.string("LINEAR_ACTOR")
        if let actor, actor != "app", actor != "user" {
            throw ConfigurationError("LINEAR_ACTOR", "must be app or user")
        }
        self.webhookSecret = env.string("LINEAR_WEBHOOK_SECRET", isSecret: true)
    }
}

/// Slack: the app's OAuth install (`SLACK_CLIENT_ID`, `SLACK_CLIENT_SECRET`) or one workspace's
/// bot (`SLACK_BOT_TOKEN`, which then wins, with `SLACK_BOT_USERS`), and the signing secret.
struct SlackSettings: Sendable {
    /// The operator's bot token and the users allowed to connect it (emails, lower-cased).
    struct Bot: Sendable {
        var token: String
        var users: Set<String>
    }

    var oauth: OAuthClientCredentials?
    var bot: Bot?
    var signingSecret: String?

    init(_ env: ConfigValues) throws(ConfigurationError) {
        self.oauth = try OAuthClientCredentials(env, id: "SLACK_CLIENT_ID", secret: "SLACK_CLIENT_SECRET")
        if let token = env.string("SLACK_BOT_TOKEN", isSecret: true) {
            let users = Set(env.list("SLACK_BOT_USERS").map { $0.lowercased() })
            guard !users.isEmpty else {
                throw ConfigurationError(
                    "SLACK_BOT_USERS",
                    "is required with SLACK_BOT_TOKEN: the comma-separated emails of the users who may use that bot")
            }
            guard users.allSatisfy({ $0.contains("@") }) else {
                throw ConfigurationError("SLACK_BOT_USERS", "must be comma-separated email addresses")
            }
            self.bot = Bot(token: token, users: users)
        }
        self.signingSecret = env.string("SLACK_SIGNING_SECRET", isSecret: true)
    }
}

/// GitHub: the App (nil when not configured) and the webhook secret.
struct GitHubSettings: Sendable {
    var app: GitHubAppSettings?
    var webhookSecret: String?

    init(_ env: ConfigValues) throws(ConfigurationError) {
        self.app = try GitHubAppSettings(env)
        self.webhookSecret = env.string("GITHUB_WEBHOOK_SECRET", isSecret: true)
    }
}

/// The GitHub App: all three variables, or none; and its OAuth credentials (both or neither),
/// without which new installations cannot be checked and are not accepted.
struct GitHubAppSettings: Sendable {
    let name: String
    let appID: String
    let privateKey: _RSA.Signing.PrivateKey
    let oauth: OAuthClientCredentials?

    init?(_ env: ConfigValues) throws(ConfigurationError) {
        let names = ["GITHUB_APP_NAME", "GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY"]
        let values = names.map { env.string($0, isSecret: $0 == "GITHUB_APP_PRIVATE_KEY") }
        if values.allSatisfy({ $0 == nil }) { return nil }
        for (name, value) in zip(names, values) where value == nil {
            throw ConfigurationError(name, "is required when any of \(names.joined(separator: ", ")) is set")
        }
        guard let appID = values[1], !appID.isEmpty, appID.allSatisfy(\.isNumber) else {
            throw ConfigurationError("GITHUB_APP_ID", "must be the App's numeric id")
        }
        // `.env` files and secret stores often hold the PEM on one line with literal \n.
        let pem = values[2]!.replacingOccurrences(of: "\\n", with: "\n")
        guard let key = try? _RSA.Signing.PrivateKey(pemRepresentation: pem) else {
            throw ConfigurationError("GITHUB_APP_PRIVATE_KEY", "must be the App's RSA private key in PEM form")
        }
        self.name = values[0]!
        self.appID = appID
        self.privateKey = key
        self.oauth = try OAuthClientCredentials(env, id: "GITHUB_APP_CLIENT_ID", secret: "GITHUB_APP_CLIENT_SECRET")
    }
}
