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
var logger = Logger(label: "bare")
logger.logLevel = .warning
let app = Application(
    router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
try await app.runService()
