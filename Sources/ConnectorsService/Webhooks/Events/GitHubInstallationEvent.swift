/// GitHub's `installation` webhook (`deleted`, `suspend`, `unsuspend`, …): the installation is
/// the account a GitHub connection acts for.
/// https://docs.github.com/en/webhooks/webhook-events-and-payloads#installation
struct GitHubInstallationEvent: Decodable, Sendable, Equatable {
    struct Installation: Decodable, Sendable, Equatable {
        let id: Int64
    }

    let installation: Installation
}
