import Foundation
import Shared
import HTTPTypes
import Hummingbird
import NIOCore

/// The provider APIs the agent's tools call, on one fake server: Linear GraphQL at `/graphql`,
/// GitHub REST under `/github`, Slack's Web API under `/slack`. Each call is recorded with the
/// bearer token it carried, so tests can tell whose connection acted.
public final class FakeToolAPIs: Sendable {
    public struct Call: Sendable, Equatable {
        public let api: String
        public let operation: String
        public let token: String
        public let fields: [String: String]
    }

    public let calls = SendableBox<[Call]>([])
    /// When set, GraphQL answers HTTP 200 with this error message.
    public let graphQLError = SendableBox<String?>(nil)
    /// Slack messages posted (channel, thread_ts, text).
    public let posted = SendableBox<[(channel: String, thread: String?, text: String)]>([])
    /// How many `chat.postMessage` calls to refuse (`ok: false`) before accepting.
    public let refusePosts = SendableBox(0)
    /// Slack messages only one user sees (channel, user, text).
    public let ephemeral = SendableBox<[(channel: String, user: String, text: String)]>([])
    /// The email in each Slack user's profile, for `users.info`.
    public let slackEmails = SendableBox<[String: String]>([:])
    /// What `conversations.replies` answers: a thread's messages (user, text, ts).
    public let thread = SendableBox<[[String: String]]>([
        ["user": "U0HUMAN", "text": "Deploy is done", "ts": "1700000000.000100"]
    ])
    /// A Slack conversation other than the public `C1` (#general) every workspace here has.
    public struct SlackConversation: Sendable {
        public enum Kind: Sendable {
            case publicChannel, privateChannel
            /// A direct message between the app and this user.
            case direct(user: String)
        }

        public let id: String
        public let name: String
        public let kind: Kind
        public let members: [String]

        public init(id: String, name: String = "", kind: Kind, members: [String] = []) {
            self.id = id
            self.name = name
            self.kind = kind
            self.members = members
        }
    }

    /// The workspace's other conversations, for `conversations.info`, `conversations.list`,
    /// `conversations.members` and `users.conversations`; an id not listed is a public channel.
    public let conversations = SendableBox<[SlackConversation]>([])
    /// Messages sent to an interaction's `response_url` (`/slack-hooks/...`), as JSON objects.
    public let responses = SendableBox<[[String: any Sendable]]>([])
    /// How long `issueCreate` takes to answer once recorded (a call in flight when a test
    /// stops the service).
    public let issueCreateDelay = SendableBox<Duration>(.zero)
    /// Linear agent activities created (session id, content).
    public let activities = SendableBox<[(session: String, content: [String: String])]>([])

    public init() {}

    private func record(_ api: String, _ operation: String, _ request: Request, _ fields: [String: String] = [:]) {
        let token = request.headers[.authorization].map { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : $0 } ?? ""
        calls.update { $0.append(Call(api: api, operation: operation, token: token, fields: fields)) }
    }

    private static func json(_ object: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))))
    }

    public func register(on router: Router<BasicRequestContext>) {
        router.post("/graphql") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            let body = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
            let query = body["query"] as? String ?? ""
            let variables = body["variables"] as? [String: Any] ?? [:]
            let operation =
                [
                    "agentActivityCreate", "searchIssues", "issueCreate", "commentCreate", "issueUpdate", "issue(",
                    "teams",
                ].first { query.contains($0) } ?? "unknown"
            self.record("linear", operation, request, variables.compactMapValues { $0 as? String })
            if let message = self.graphQLError.get() {
                return try Self.json([
                    "data": NSNull(),
                    "errors": [["message": "internal", "extensions": ["userPresentableMessage": message]]],
                ])
            }
            switch operation {
            case "agentActivityCreate":
                let input = variables["input"] as? [String: Any] ?? [:]
                let content = (input["content"] as? [String: Any] ?? [:]).compactMapValues { $0 as? String }
                self.activities.update { $0.append((input["agentSessionId"] as? String ?? "", content)) }
                return try Self.json([
                    "data": ["agentActivityCreate": ["success": true, "agentActivity": ["id": UUID().uuidString]]]
                ])
            case "searchIssues":
                return try Self.json([
                    "data": [
                        "searchIssues": [
                            "nodes": [
                                [
                                    "id": "iss-1", "identifier": "ENG-1", "title": "Crash on start",
                                    "url": "https://linear.app/acme/issue/ENG-1", "state": ["name": "Todo"],
                                ]
                            ]
                        ]
                    ]
                ])
            case "teams":
                return try Self.json([
                    "data": [
                        "teams": [
                            "nodes": [["id": "team-1", "key": "ENG", "name": "Engineering", "states": ["nodes": []]]]
                        ]
                    ]
                ])
            case "issueCreate":
                let delay = self.issueCreateDelay.get()
                if delay > .zero { try await Task.sleep(for: delay) }
                return try Self.json([
                    "data": [
                        "issueCreate": [
                            "success": true,
                            "issue": [
                                "id": "iss-2", "identifier": "ENG-2", "title": "New",
                                "url": "https://linear.app/acme/issue/ENG-2",
                            ],
                        ]
                    ]
                ])
            default:
                return try Self.json(["data": NSNull(), "errors": [["message": "unsupported by the fake"]]])
            }
        }
        router.get("/github/user/installations/:id/repositories") { request, _ -> Response in
            self.record("github", "list_repositories", request)
            return try Self.json([
                "total_count": 1,
                "repositories": [
                    [
                        "full_name": "acme/app", "private": true, "description": "The app", "default_branch": "main",
                        "html_url": "https://github.com/acme/app", "id": 1,
                    ]
                ],
            ])
        }
        router.get("/github/repos/:owner/:repo/issues/:number") { request, context -> Response in
            self.record("github", "get_issue", request, ["number": context.parameters.get("number") ?? ""])
            guard context.parameters.get("number") == "7" else {
                return try Self.json(["message": "Not Found"], status: .notFound)
            }
            return try Self.json([
                "number": 7, "title": "Flaky test", "body": "It fails on Tuesdays.", "state": "open",
                "html_url": "https://github.com/acme/app/issues/7",
                "user": ["login": "octocat"], "labels": [["name": "bug"]], "comments": 2,
            ])
        }
        router.post("/slack-hooks/:id") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any]
            let sendable = (object ?? [:]).compactMapValues { value -> (any Sendable)? in
                switch value {
                case let text as String: text
                case let flag as Bool: flag
                default: nil
                }
            }
            self.responses.update { $0.append(sendable) }
            return Response(status: .ok)
        }
        router.post("/slack/:method") { request, context -> Response in
            let method = context.parameters.get("method") ?? ""
            let bytes = try await request.body.collect(upTo: 1 << 20)
            let fields = Dictionary(FormEncoding.pairs(String(buffer: bytes)), uniquingKeysWith: { $1 })
            self.record("slack", method, request, fields)
            switch method {
            case "chat.postMessage":
                if self.refusePosts.update({ count in
                    count > 0
                        ? {
                            count -= 1; return true
                        }() : false
                }) {
                    return try Self.json(["ok": false, "error": "ratelimited"])
                }
                self.posted.update { $0.append((fields["channel"] ?? "", fields["thread_ts"], fields["text"] ?? "")) }
                return try Self.json(["ok": true, "channel": fields["channel"] ?? "", "ts": "1700000001.000200"])
            case "chat.postEphemeral":
                self.ephemeral.update {
                    $0.append((fields["channel"] ?? "", fields["user"] ?? "", fields["text"] ?? ""))
                }
                return try Self.json(["ok": true, "message_ts": "1700000001.000300"])
            case "users.info":
                let user = fields["user"] ?? ""
                guard let email = self.slackEmails.get()[user] else {
                    return try Self.json(["ok": false, "error": "user_not_found"])
                }
                return try Self.json(["ok": true, "user": ["id": user, "profile": ["email": email]]])
            case "conversations.replies":
                return try Self.json(["ok": true, "messages": self.thread.get(), "has_more": false])
            case "conversations.list":
                let others: [[String: Any]] = self.conversations.get().compactMap { conversation in
                    switch conversation.kind {
                    case .direct: nil
                    case .publicChannel, .privateChannel:
                        [
                            "id": conversation.id, "name": conversation.name,
                            "is_private": { if case .privateChannel = conversation.kind { true } else { false } }(),
                            "is_member": true,
                        ]
                    }
                }
                return try Self.json([
                    "ok": true,
                    "channels": [["id": "C1", "name": "general", "is_private": false, "is_member": true]] + others,
                ])
            case "conversations.info":
                let id = fields["channel"] ?? ""
                let channel: [String: Any] =
                    switch self.conversations.get().first(where: { $0.id == id })?.kind {
                    case .privateChannel: ["id": id, "is_channel": true, "is_private": true, "is_im": false]
                    case .direct(let user): ["id": id, "is_im": true, "is_private": true, "user": user]
                    case .publicChannel, nil: ["id": id, "is_channel": true, "is_private": false, "is_im": false]
                    }
                return try Self.json(["ok": true, "channel": channel])
            case "conversations.members":
                let members = self.conversations.get().first { $0.id == fields["channel"] }?.members ?? []
                return try Self.json(["ok": true, "members": members, "response_metadata": ["next_cursor": ""]])
            case "users.conversations":
                let user = fields["user"] ?? ""
                let types = Set((fields["types"] ?? "public_channel").split(separator: ",").map(String.init))
                let channels = self.conversations.get().filter { conversation in
                    guard conversation.members.contains(user) else { return false }
                    switch conversation.kind {
                    case .publicChannel: return types.contains("public_channel")
                    case .privateChannel: return types.contains("private_channel")
                    case .direct: return types.contains("im")
                    }
                }
                return try Self.json([
                    "ok": true, "channels": channels.map { ["id": $0.id, "name": $0.name] },
                    "response_metadata": ["next_cursor": ""],
                ])
            default:
                return try Self.json(["ok": false, "error": "unknown_method"])
            }
        }
    }
}
