/// Finds the client a `client_id` names: a registered one, or — for an `https://` URL — the
/// client its Client ID Metadata Document describes.
struct OAuthClientResolver: Sendable {
    let repository: OAuthClientRepository
    let documents: ClientMetadataDocuments

    func client(id: String) async throws -> OAuthClient? {
        if ClientMetadataDocuments.isDocumentURL(id) { return try await documents.client(for: id) }
        return try await repository.find(clientId: id)
    }
}
