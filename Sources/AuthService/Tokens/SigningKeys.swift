import Crypto
import CryptoExtras
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Shared
import Synchronization

/// The signing keys in memory: which key signs now, and the JWKS document, prebuilt.
///
/// Rotation without breaking anyone: a new key is published at once but signs only after one
/// JWKS cache period, so every verifier has seen it before meeting a token it signed; an old
/// key stays published until its last token has expired plus a cache period, then it is
/// deleted. Keys are reloaded from the database periodically, so a rotation made by
/// `AuthService rotate-keys` reaches every replica.
final class SigningKeys: Service, Sendable {
    struct Snapshot: Sendable {
        var keys: [SigningKey] = []
        var jwks = ByteBuffer(string: #"{"keys":[]}"#)
    }

    let repository: SigningKeyRepository
    let cachePeriod: TimeInterval
    let reloadInterval: Duration
    let logger: Logger
    private let snapshot = Mutex(Snapshot())

    init(
        repository: SigningKeyRepository, cachePeriod: TimeInterval = 300, reloadInterval: Duration = .seconds(30),
        logger: Logger
    ) {
        self.repository = repository
        self.cachePeriod = cachePeriod
        self.reloadInterval = reloadInterval
        self.logger = logger
    }

    /// The prebuilt JWKS document.
    var jwks: ByteBuffer { snapshot.withLock { $0.jwks } }

    /// The key that signs at `now`: the newest one published for at least a cache period, or,
    /// while none has been (the very first key), the oldest published one.
    func signer(now: Date = Date()) -> SigningKey? {
        snapshot.withLock { snapshot in
            let published = snapshot.keys.filter { $0.expiresAt.map { $0 > now } ?? true }
            return published.last { $0.createdAt.addingTimeInterval(cachePeriod) <= now } ?? published.first
        }
    }

    /// Makes sure a key exists, then loads them all. Throws `ConfigurationError` when stored
    /// keys cannot be decrypted with this `BETTER_AUTH_SECRET`.
    /// The header's `typ` and the payload of a compact RS256 JWS signed by one of our published
    /// keys; nil otherwise. (Only the authorization server's revocation and introspection read
    /// tokens back.)
    func verifiedPayload(of token: String) -> (typ: String?, payload: [UInt8])? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = JWTHeaderFieldsLite.parse(String(parts[0])), header.alg == "RS256",
            let key = snapshot.withLock({ $0.keys.first { $0.id == header.kid } }),
            let signature = Base64URL.decode(String(parts[2])), let payload = Base64URL.decode(String(parts[1]))
        else { return nil }
        let signed = Array((parts[0] + "." + parts[1]).utf8)
        guard
            key.privateKey.publicKey.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: signed),
                padding: .insecurePKCS1v1_5)
        else { return nil }
        return (header.typ, payload)
    }

    private struct JWTHeaderFieldsLite: Decodable {
        let alg: String
        let kid: String
        let typ: String?
        static func parse(_ part: String) -> Self? {
            Base64URL.decode(part).flatMap { try? JSONDecoder().decode(Self.self, from: Data($0)) }
        }
    }

    func start() async throws {
        try await repository.ensureKey()
        try await reload()
    }

    func reload(now: Date = Date()) async throws {
        try await repository.deleteExpired(now: now)
        var keys = [SigningKey]()
        for row in try await repository.all() {
            guard KeyVault.isOurs(row.privateKey) else {
                logger.notice("skipping a jwks row this service did not write", metadata: ["kid": "\(row.id)"])
                continue
            }
            do {
                let privateKey = try repository.vault.open(row.privateKey, id: row.id)
                keys.append(
                    SigningKey(id: row.id, privateKey: privateKey, createdAt: row.createdAt, expiresAt: row.expiresAt))
            } catch {
                throw ConfigurationError(
                    "BETTER_AUTH_SECRET",
                    "cannot decrypt the stored JWT signing keys (jwks table): was the secret changed? Restore it, or delete the jwks rows to start with new keys"
                )
            }
        }
        let published = keys.filter { $0.expiresAt.map { $0 > now } ?? true }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let document = try encoder.encode(["keys": published.map(\.publicJWK)])
        snapshot.withLock { $0 = Snapshot(keys: keys, jwks: ByteBuffer(bytes: document)) }
    }

    /// Reloads periodically until shutdown.
    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.reloadInterval)
                do {
                    try await self.reload()
                } catch {
                    self.logger.warning(
                        "could not reload the signing keys; keeping the ones in memory", metadata: ["error": "\(error)"]
                    )
                }
            }
        }
    }
}
