/// GitHub's `installation` webhook (`deleted`, `suspend`, `unsuspend`, …): the installation is
/// the account a GitHub connection acts for.
/// https://docs.github.com/en/webhooks/webhook-events-and-payloads#installation
struct GitHubInstallationEvent: Decodable, Sendable, Equatable {
    struct Installation: Decodable, Sendable, Equatable {
        let id: Int64
    }

    let installation: Installation
}

/// GitHub's `github_app_authorization` webhook (`revoked`): someone revoked the App's
/// authorization in their GitHub settings; `sender` is who.
/// https://docs.github.com/en/webhooks/webhook-events-and-payloads#github_app_authorization
struct GitHubAuthorizationEvent: Decodable, Sendable, Equatable {
    struct Sender: Decodable, Sendable, Equatable {
        let id: Int64
    }

    let sender: Sender
}
