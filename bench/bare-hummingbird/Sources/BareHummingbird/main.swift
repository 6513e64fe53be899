import Foundation
import Hummingbird
import Logging

// PORT (default 8080) on 127.0.0.1; no middleware, no logging per request.
let port = Int(ProcessInfo.processInfo.environment["PORT"] ?? "") ?? 8080
let body = ByteBuffer(string: #"{"status":"ok"}"#)
let router = Router()
router.get("/health") { _, _ in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
}
// The Slack deliveries the bench sends the connectors service: the body collected and a constant
// answer, no check and no store — the framework's own cost of a webhook.
let ok = ByteBuffer(string: #"{"ok":true}"#)
router.post("/slack/events") { request, _ in
    _ = try await request.body.collect(upTo: 1 << 20)
    return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ok))
}
var logger = Logger(label: "bare")
logger.logLevel = .warning
let app = Application(
    router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
try await app.runService()
