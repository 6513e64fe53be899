import Shared

/// Seals and opens a connection's tokens with `SecretBox`, bound to the connection's id and
/// provider as additional authenticated data.
struct TokenSealer: Sendable {
    let box: SecretBox

    func seal(_ token: String?, id: String, provider: ProviderID) throws -> String? {
        try token.map { try box.seal($0, additionalData: Connection.sealingContext(id: id, provider: provider)) }
    }

    func open(_ sealed: String?, id: String, provider: ProviderID) throws -> String? {
        try sealed.map { try box.open($0, additionalData: Connection.sealingContext(id: id, provider: provider)) }
    }
}
