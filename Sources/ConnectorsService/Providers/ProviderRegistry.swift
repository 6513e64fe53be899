/// The configured providers by id. A provider whose variables are absent is not here, and its
/// routes answer 503 naming the variables that enable it.
struct ProviderRegistry: Sendable {
    let providers: [ProviderID: any ConnectionProvider]
    /// For each unconfigured provider, the variables that would enable it.
    let missing: [ProviderID: [String]]

    func provider(_ id: ProviderID) -> (any ConnectionProvider)? { providers[id] }
}
