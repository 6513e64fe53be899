import AsyncHTTPClient
import Foundation
import Logging
import MCP
import NIOCore
import NIOHTTP1
import Shared

/// The Messages API over async-http-client: one call, streamed or not, with bounded retries for
/// what the API documents as transient (429 rate limits, 529 overloaded, 5xx, network
/// failures), honouring `retry-after`. Never retried: 4xx client errors and a 429 for a spend
/// limit, which no amount of waiting inside one run fixes.
struct AnthropicClient: Sendable {
    struct Settings: Sendable {
        var apiKey: String
        var model: String
        var baseURL: String
        var maxTokens = 4096
        var maxRetries = 3
        var retryBase: Duration = .milliseconds(500)
        var retryCap: Duration = .seconds(8)
        /// A `retry-after` longer than this is not waited for: the run fails instead.
        var longestRetryAfter: Duration = .seconds(60)
        var requestTimeout: Duration = .seconds(300)
    }

    let http: HTTPClient
    let settings: Settings
    let logger: Logger

    /// Sends one turn. With `onText`, the answer streams and each text fragment is handed over
    /// as it arrives; the complete message is returned either way.
    func send(
        system: String?, messages: [Anthropic.Message], tools: [Anthropic.ToolSpec], toolChoice: String? = nil,
        onText: (@Sendable (String) async -> Void)? = nil
    ) async throws -> Anthropic.Response {
        let request = Anthropic.Request(
            model: settings.model, maxTokens: settings.maxTokens, system: system, messages: messages, tools: tools,
            toolChoice: toolChoice, stream: onText != nil)
        let body = try JSONEncoder().encode(request)
        var attempt = 0
        while true {
            let streamed = TextCounter()
            do {
                return try await once(
                    body,
                    onText: onText.map { forward in
                        { @Sendable text in
                            await streamed.add()
                            await forward(text)
                        }
                    })
            } catch {
                attempt += 1
                // Text already shown to the caller cannot be taken back: no retry after that.
                guard attempt <= settings.maxRetries, await streamed.count == 0,
                    let delay = retryDelay(error, attempt: attempt)
                else { throw error }
                logger.warning(
                    "Anthropic call failed; retrying",
                    metadata: ["attempt": "\(attempt)", "error": "\(error)", "delay_ms": "\(delay.wholeMilliseconds)"])
                try await Task.sleep(for: delay)
            }
        }
    }

    private func once(_ body: Data, onText: (@Sendable (String) async -> Void)?) async throws -> Anthropic.Response {
        var request = HTTPClientRequest(url: settings.baseURL + "/v1/messages")
        request.method = .POST
        request.headers.add(name: "x-api-key", value: settings.apiKey)
        request.headers.add(name: "anthropic-version", value: "2023-06-01")
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "accept", value: onText == nil ? "application/json" : "text/event-stream")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await http.execute(
                request, timeout: .milliseconds(settings.requestTimeout.wholeMilliseconds))
        } catch {
            throw NetworkFailure(description: "\(error)")
        }
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            let bytes = (try? await response.body.collect(upTo: 1 << 20)).map { Data($0.readableBytesView) } ?? Data()
            throw Self.apiError(status: status, body: bytes, headers: response.headers)
        }
        do {
            if let onText {
                var assembler = AnthropicStreamAssembler()
                var parser = ServerSentEventParser()
                for try await chunk in response.body {
                    for event in parser.consume(chunk.readableBytesView) {
                        if let text = try assembler.apply(event) { await onText(text) }
                    }
                }
                return try assembler.finish()
            }
            let bytes = try await response.body.collect(upTo: 16 << 20)
            return try JSONDecoder().decode(Anthropic.Response.self, from: Data(bytes.readableBytesView))
        } catch let error as Anthropic.APIError {
            throw error
        } catch let error as DecodingError {
            throw Anthropic.APIError(status: status, type: "invalid_response", message: "unreadable answer: \(error)")
        } catch {
            throw NetworkFailure(description: "\(error)")
        }
    }

    struct NetworkFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// How long to wait before trying again, or nil when the failure is final.
    func retryDelay(_ error: any Error, attempt: Int) -> Duration? {
        if error is NetworkFailure { return backoff(attempt) }
        guard let error = error as? Anthropic.APIError else { return nil }
        let transient: Bool
        switch (error.status, error.type) {
        case (429, "spend_limit"): transient = false
        case (408, _), (429, _), (500..., _): transient = true
        // An `error` event inside a 200 stream.
        case (200, "overloaded_error"), (200, "api_error"), (200, "rate_limit_error"), (200, "timeout_error"):
            transient = true
        default: transient = false
        }
        guard transient else { return nil }
        if let seconds = error.retryAfter, seconds.isFinite, seconds >= 0 {
            // Compared as seconds before any conversion: "1e300" must not trap converting to Int64.
            let longest = Double(settings.longestRetryAfter.components.seconds)
            guard seconds <= longest else { return nil }
            return .milliseconds(Int64(seconds * 1000))
        }
        return backoff(attempt)
    }

    /// Up to 25% jitter taken off, as Anthropic's own SDKs do.
    private func backoff(_ attempt: Int) -> Duration {
        Backoff(base: settings.retryBase, cap: settings.retryCap, jitter: 0.25).delay(attempt: attempt)
    }

    /// The API's error body, with a spend-limit 429 told apart from a rate limit: it carries
    /// `error.details.error_code = enforced_spend_limit_reached` (or says "usage limit") and no
    /// `retry-after`.
    static func apiError(status: Int, body: Data, headers: HTTPHeaders) -> Anthropic.APIError {
        struct ErrorBody: Decodable {
            struct Details: Decodable { let error_code: String? }
            struct Inner: Decodable {
                let type: String?
                let message: String?
                let details: Details?
            }
            let error: Inner?
        }
        let error = (try? JSONDecoder().decode(ErrorBody.self, from: body))?.error
        var type = error?.type ?? "http_\(status)"
        let message = error?.message ?? "HTTP \(status)"
        let retryAfter =
            headers.first(name: "retry-after-ms").flatMap(Double.init).map { $0 / 1000 }
            ?? headers.first(name: "retry-after").flatMap(Double.init)
        let code = error?.details?.error_code
        if status == 429,
            code == "enforced_spend_limit_reached"
                || (retryAfter == nil && message.lowercased().contains("usage limit"))
        {
            type = "spend_limit"
        }
        return Anthropic.APIError(status: status, type: type, message: message, retryAfter: retryAfter)
    }
}

/// Counts streamed fragments across the retry loop.
private actor TextCounter {
    private(set) var count = 0
    func add() { count += 1 }
}
