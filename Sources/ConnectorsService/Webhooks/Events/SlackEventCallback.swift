/// Slack's Events API envelope (`type: event_callback`) with the inner event fields we act on:
/// mentions and direct messages, and the workspace-level `tokens_revoked`/`app_uninstalled`.
/// https://api.slack.com/apis/events-api#callback-field — decoded with snake_case keys converted.
struct SlackEventCallback: Decodable, Sendable, Equatable {
    struct Event: Decodable, Sendable, Equatable {
        let type: String
        let user: String?
        /// The sender's own workspace: another one's for a Slack Connect user in a shared channel.
        let userTeam: String?
        /// Present on messages a bot (ourselves included) posted.
        let botId: String?
        /// Edits, deletions, joins…: not requests.
        let subtype: String?
        /// `im` for a direct message.
        let channelType: String?
        let channel: String?
        let ts: String?
        let threadTs: String?
        let text: String?
    }

    let teamId: String
    let event: Event?
}
