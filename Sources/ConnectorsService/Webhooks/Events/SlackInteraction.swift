/// A Slack interaction payload (`block_actions`: someone clicked a button in a message the app
/// posted), with the fields the approval buttons need.
/// https://docs.slack.dev/reference/interaction-payloads/block_actions-payload — decoded with
/// snake_case keys converted.
struct SlackInteraction: Decodable, Sendable, Equatable {
    struct User: Decodable, Sendable, Equatable {
        let id: String
        let teamId: String?
    }
    struct Team: Decodable, Sendable, Equatable {
        let id: String
    }
    struct Action: Decodable, Sendable, Equatable {
        let actionId: String
        let blockId: String?
        let value: String?
    }

    let type: String
    let user: User
    let team: Team?
    let responseUrl: String?
    let actions: [Action]?
}
