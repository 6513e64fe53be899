/// The providers a user can connect.
enum ProviderID: String, Codable, Sendable, CaseIterable {
    case linear, github, slack
}
