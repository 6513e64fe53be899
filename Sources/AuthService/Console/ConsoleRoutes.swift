import HTTPTypes
import Hummingbird
import Shared

/// The web console at `/` (and `/connections`, where OAuth callbacks land), with its hashed
/// assets under `/assets/`. Every answer carries a strict Content-Security-Policy: scripts,
/// styles and requests from this origin only, nothing inline, no framing.
struct ConsoleRoutes: Sendable {
    let console: ConsoleAssets

    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

    func register(on router: Router<AuthRequestContext>) {
        /// The console's page: never cached, so a deploy is seen on the next load.
        // `/sign-in`, `/consent` and `/oauth-error` are where an MCP client's authorization sends the
        // browser; `/error` is where a GitHub sign-in that did not complete lands (Better Auth's default).
        for path in ["/", "/connections", "/activity", "/sign-in", "/consent", "/oauth-error", "/error"] {
            router.get(RouterPath(path)) { _, _ in
                Response(
                    status: .ok, headers: Self.headers(type: "text/html; charset=utf-8", cache: "no-cache"),
                    body: .init(byteBuffer: console.index))
            }
        }
        /// An asset by its hashed name: cached for a year, immutable.
        router.get("/assets/:name") { _, context in
            guard let asset = console.assets[try context.parameters.require("name")] else {
                throw AppError.notFound("NOT_FOUND", "No such asset.")
            }
            return Response(
                status: .ok,
                headers: Self.headers(type: asset.contentType, cache: "public, max-age=31536000, immutable"),
                body: .init(byteBuffer: asset.body))
        }
    }

    static func headers(type: String, cache: String) -> HTTPFields {
        [
            .contentType: type, .cacheControl: cache, .contentSecurityPolicy: contentSecurityPolicy,
            HTTPField.Name("X-Content-Type-Options")!: "nosniff", HTTPField.Name("Referrer-Policy")!: "same-origin",
        ]
    }
}
