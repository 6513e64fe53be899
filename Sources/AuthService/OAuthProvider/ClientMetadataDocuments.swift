import AsyncHTTPClient
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Shared
import Synchronization

/// Clients known by a Client ID Metadata Document: a `client_id` that is an `https://` URL names
/// a JSON document, served by the client's owner, describing it (the MCP authorization spec's
/// preferred way to identify a client nobody registered).
///
/// Fetching a URL a stranger chose is a server-side request forgery risk, so the fetch is
/// narrow: the host must resolve only to public addresses, and the connection goes to the
/// address that was checked (no second lookup to rebind); no redirects; 5 seconds; 5 KiB; a few
/// fetches per minute per origin; the answer cached as its `Cache-Control` allows, at most an hour.
final class ClientMetadataDocuments: Sendable {
    struct Settings: Sendable {
        /// Hosts exempt from the public-address rule (`CIMD_ALLOW_HOSTS`; development and tests).
        var allowHosts: Set<String> = []
        /// Extra PEM trust anchors (`CIMD_CA_FILE`; development and tests).
        var caFile: String?
        var timeout: TimeAmount = .seconds(5)
        var maxBytes = 5 * 1024
        var maxAge: TimeInterval = 3600
        var defaultAge: TimeInterval = 300
        /// Fetches per origin per minute.
        var originLimit = 30
    }

    let settings: Settings
    let repository: OAuthClientRepository
    let resource: String
    let logger: Logger
    /// Until when each document stays fresh (its `Cache-Control`), so it is not fetched again.
    private let freshUntil = Mutex<[String: Date]>([:])
    private let fetches = Mutex<[String: [Date]]>([:])

    init(settings: Settings, repository: OAuthClientRepository, resource: String, logger: Logger) {
        self.settings = settings
        self.repository = repository
        self.resource = resource
        self.logger = logger
    }

    /// True for a `client_id` that names a metadata document: `https://`, a host, a path.
    static func isDocumentURL(_ clientId: String) -> Bool {
        guard clientId.lowercased().hasPrefix("https://"), let components = URLComponents(string: clientId) else {
            return false
        }
        return components.host?.isEmpty == false && components.path.count > 1
    }

    /// A fetch that failed for a reason that says nothing about the document (the budget, the
    /// network): a client already stored keeps working.
    struct Unavailable: Error {
        let error: OAuthError
    }

    /// The client the document at `url` describes, fetched (or, while the document's cache
    /// lifetime lasts, not fetched again) and stored. The stored row is what is returned, read
    /// every time, so what an operator set on it (disabled) holds at once.
    func client(for url: String, now: Date = Date()) async throws -> OAuthClient? {
        if let fresh = freshUntil.withLock({ $0[url] }), fresh > now {
            return try await repository.find(clientId: url)
        }
        let components = try Self.checkedURL(url)
        let host = components.host!.lowercased()
        let origin = "https://" + host + (components.port.map { ":\($0)" } ?? "")
        let stored = try await repository.find(clientId: url)
        if let stored, stored.discoveryId != "cimd" {
            throw Self.invalid("this client_id is already registered another way")
        }
        let body: ByteBuffer
        let maxAge: TimeInterval
        do {
            try takeFetchBudget(origin: origin, now: now)
            let address = try await publicAddress(of: host)
            (body, maxAge) = try await fetch(url, host: host, address: address)
        } catch let unavailable as Unavailable {
            if let stored { return stored }
            throw unavailable.error
        }
        try await repository.save(try Self.client(from: body, url: url, now: now), now: now)
        try await repository.link(clientId: url, resource: resource, now: now)
        guard let client = try await repository.find(clientId: url) else { return nil }
        if maxAge > 0 {
            freshUntil.withLock { freshUntil in
                if freshUntil.count > 1000 { freshUntil.removeAll() }
                freshUntil[url] = now.addingTimeInterval(maxAge)
            }
        }
        return client
    }

    // MARK: The URL

    static func checkedURL(_ url: String) throws -> URLComponents {
        guard let components = URLComponents(string: url), components.scheme?.lowercased() == "https",
            let host = components.host, !host.isEmpty
        else { throw invalid("client_id must be an https URL") }
        guard components.user == nil, components.password == nil else { throw invalid("client_id carries credentials") }
        guard components.fragment == nil, !url.contains("\\") else { throw invalid("client_id is malformed") }
        let path = components.percentEncodedPath
        guard path.count > 1 else { throw invalid("client_id must have a path") }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).map { $0.lowercased() }
        guard !segments.contains(where: { [".", "..", "%2e", "%2e%2e", ".%2e", "%2e."].contains($0) }) else {
            throw invalid("client_id has dot segments")
        }
        return components
    }

    // MARK: Limits

    private func takeFetchBudget(origin: String, now: Date) throws {
        let allowed = fetches.withLock { fetches -> Bool in
            let recent = (fetches[origin] ?? []).filter { now.timeIntervalSince($0) < 60 }
            guard recent.count < settings.originLimit else {
                fetches[origin] = recent
                return false
            }
            fetches[origin] = recent + [now]
            if fetches.count > 10_000 {
                fetches = fetches.filter { $0.value.contains { now.timeIntervalSince($0) < 60 } }
            }
            return true
        }
        guard allowed else {
            throw Unavailable(
                error: OAuthError(
                    status: .tooManyRequests, error: "temporarily_unavailable",
                    errorDescription: "too many metadata document fetches for this origin; try again in a minute"))
        }
    }

    // MARK: Where to connect

    /// The address to connect to: every address the host resolves to must be public (so a name
    /// cannot point some answers inward), unless the host is allow-listed.
    private func publicAddress(of host: String) async throws -> String {
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        // getaddrinfo blocks: on threads of its own (never the pool that signs tokens), and
        // given up on after the fetch timeout.
        let addresses: [String]
        do {
            addresses = try await withTimeout(.nanoseconds(settings.timeout.nanoseconds)) {
                try await Self.resolver.runIfActive { Self.resolve(bare) }
            }
        } catch {
            throw Unavailable(error: Self.invalid("the client_id host could not be resolved in time"))
        }
        guard let first = addresses.first else { throw Self.invalid("the client_id host does not resolve") }
        if !settings.allowHosts.contains(host) {
            for address in addresses where !PublicAddress.isPublic(address) {
                logger.notice("refused a metadata document on a non-public address", metadata: ["host": "\(host)"])
                throw Self.invalid("the client_id host resolves to a non-public address")
            }
        }
        return first
    }

    /// Two threads for name lookups, apart from NIO's shared blocking pool.
    static let resolver: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    static func resolve(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let list = result else { return [] }
        defer { freeaddrinfo(list) }
        var addresses = [String]()
        var cursor: UnsafeMutablePointer<addrinfo>? = list
        while let entry = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(
                entry.pointee.ai_addr, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0,
                NI_NUMERICHOST) == 0
            {
                let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !addresses.contains(text) { addresses.append(text) }
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }

    // MARK: Fetching

    /// The DNS override that sends the fetch of `url` to `address`, keyed by the host as
    /// AsyncHTTPClient reads it from the URL (case as written): under any other spelling it would
    /// look the name up again, and a rebinding name could answer that second lookup inward.
    static func pin(_ url: String, to address: String) -> [String: String] {
        guard let host = try? HTTPClient.Request(url: url).host, !host.isEmpty else { return [:] }
        return [host: address]
    }

    private func fetch(_ url: String, host: String, address: String) async throws -> (ByteBuffer, TimeInterval) {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile = settings.caFile {
            tls.additionalTrustRoots = [.file(caFile)]
        }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: settings.timeout, read: settings.timeout))
        // The connection goes to the address that was checked; TLS still verifies the host name.
        configuration.dnsOverride = Self.pin(url, to: address)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        defer { Task { try? await client.shutdown() } }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: settings.timeout)
        } catch {
            logger.info("a client metadata document could not be fetched", metadata: ["error": "\(error)"])
            throw Unavailable(error: Self.invalid("the client metadata document could not be fetched"))
        }
        guard response.status == .ok else {
            throw Self.invalid(
                (300..<400).contains(response.status.code)
                    ? "the client metadata document redirects; redirects are not followed"
                    : "the client metadata document answered \(response.status.code)")
        }
        let type = response.headers.first(name: "Content-Type")?.lowercased() ?? ""
        guard type.hasPrefix("application/json") || type.contains("+json") else {
            throw Self.invalid("the client metadata document is not JSON")
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: settings.maxBytes)
        } catch {
            throw Self.invalid("the client metadata document is larger than \(settings.maxBytes) bytes")
        }
        return (body, Self.freshness(response.headers.first(name: "Cache-Control"), settings: settings))
    }

    /// How long an answer may be reused: its `max-age` up to an hour; nothing for `no-store` or
    /// `no-cache`; a few minutes when it says nothing.
    static func freshness(_ cacheControl: String?, settings: Settings) -> TimeInterval {
        guard let cacheControl = cacheControl?.lowercased() else { return settings.defaultAge }
        let directives = cacheControl.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if directives.contains(where: { $0 == "no-store" || $0 == "no-cache" || $0 == "private" }) { return 0 }
        for directive in directives where directive.hasPrefix("max-age=") {
            if let seconds = TimeInterval(directive.dropFirst(8)) { return max(0, min(seconds, settings.maxAge)) }
        }
        return settings.defaultAge
    }

    // MARK: The document

    struct Document: Decodable {
        let client_id: String?
        let client_name: String?
        let client_uri: String?
        let logo_uri: String?
        let redirect_uris: [String]?
        let token_endpoint_auth_method: String?
        let grant_types: [String]?
        let response_types: [String]?
        let application_type: String?
        let client_secret: String?
        let client_secret_expires_at: Int?
    }

    static func client(from body: ByteBuffer, url: String, now: Date) throws -> OAuthClient {
        guard let document = try? JSONDecoder().decode(Document.self, from: Data(body.readableBytesView)) else {
            throw invalid("the client metadata document is not a JSON object of client metadata")
        }
        guard document.client_id == url else {
            throw invalid("the document's client_id is not the URL it was fetched from")
        }
        guard document.client_secret == nil, document.client_secret_expires_at == nil else {
            throw invalid("a client metadata document cannot carry a secret")
        }
        guard (document.token_endpoint_auth_method ?? "none") == "none" else {
            throw invalid("token_endpoint_auth_method must be none")
        }
        guard let redirects = document.redirect_uris, !redirects.isEmpty else {
            throw invalid("the document has no redirect_uris")
        }
        let applicationType =
            document.application_type ?? (redirects.allSatisfy { LoopbackRedirect($0) != nil } ? "native" : "web")
        // Native and web rules both allowed when the document does not say which it is.
        for uri in redirects {
            let problem = RedirectURIPolicy.problem(with: uri, applicationType: applicationType)
            let asNative = RedirectURIPolicy.problem(with: uri, applicationType: "native")
            if problem != nil && (document.application_type != nil || asNative != nil) {
                throw invalid(problem ?? "invalid redirect URI")
            }
        }
        let grants = document.grant_types ?? ["authorization_code", "refresh_token"]
        guard grants.allSatisfy(["authorization_code", "refresh_token"].contains) else {
            throw invalid("grant_types may be authorization_code and refresh_token")
        }
        return OAuthClient(
            clientId: url, clientSecretHash: nil, name: document.client_name.map { String($0.prefix(200)) },
            uri: document.client_uri, icon: document.logo_uri, redirectURIs: redirects, tokenEndpointAuthMethod: "none",
            applicationType: document.application_type, grantTypes: grants, responseTypes: ["code"],
            scopes: OAuthScope.supported, disabled: false, skipConsent: false, discoveryId: "cimd", createdAt: now)
    }

    static func invalid(_ description: String) -> OAuthError {
        OAuthError(status: .badRequest, error: "invalid_client", errorDescription: description)
    }
}

/// Whether an address is on the public internet: not loopback, private, link-local, shared
/// (CGNAT), multicast, documentation, or otherwise reserved (RFC 6890's special-purpose ranges).
enum PublicAddress {
    static let special: [CIDR] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
        "::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
        "2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
    ].compactMap(CIDR.init)

    static func isPublic(_ address: String) -> Bool {
        guard let bytes = IPAddressBytes.parse(address) else { return false }
        // IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry (CIDR does that).
        return !special.contains { $0.contains(bytes) }
    }
}
