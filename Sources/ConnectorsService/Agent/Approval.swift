import Foundation
import MCP
import Shared

/// A tool call waiting for its owner's yes or no. Expiry counts as no.
struct Approval: Sendable, Equatable {
    enum Status: String, Sendable {
        case pending, approved, denied, expired
    }

    enum Decision: String, Sendable, Decodable {
        case approve, deny

        var status: Status { self == .approve ? .approved : .denied }
    }

    var id: String
    var runId: String
    var userId: String
    /// The model's `tool_use` id, to answer it.
    var toolUseId: String
    var tool: String
    var input: Value
    var status: Status = .pending
    var createdAt: Date
    var expiresAt: Date
    /// Set just before an approved call is made.
    var executedAt: Date? = nil
}

/// An approval as the API shows it: `{id, runId, tool, input, createdAt, expiresAt}`, plus
/// `title` and `target` for people reading it, and `status` once decided.
struct ApprovalView: Encodable, Sendable {
    let id: String
    let runId: String
    let tool: String
    let title: String
    let target: String?
    let input: Value
    let status: String
    let createdAt: String
    let expiresAt: String

    init(_ approval: Approval) {
        let tool = ToolRegistry.tool(named: approval.tool)
        id = approval.id
        runId = approval.runId
        self.tool = approval.tool
        title = tool?.title ?? approval.tool
        target = ToolTarget.describe(approval.input)
        input = approval.input
        status = approval.status.rawValue
        createdAt = JSTime.string(approval.createdAt)
        expiresAt = JSTime.string(approval.expiresAt)
    }
}

/// What a tool call acts on, in a few words (the repository, channel or issue), and its input
/// summarised for the audit trail without anything that looks like a credential.
enum ToolTarget {
    /// The target as the trail and the approval prompt show it: masked like the summary, without
    /// control characters (PostgreSQL's text refuses NUL, which would lose the whole row), and at
    /// most `limit` characters — the input is whatever the caller sent, schema or not.
    static func describe(_ input: Value, limit: Int = 200) -> String? {
        guard let target = rawTarget(input) else { return nil }
        let clean = String(
            String.UnicodeScalarView(
                redacted(target).unicodeScalars.filter { $0.properties.generalCategory != .control }))
        return clean.count <= limit ? clean : String(clean.prefix(limit - 1)) + "…"
    }

    private static func rawTarget(_ input: Value) -> String? {
        let values = input.objectValue ?? [:]
        func text(_ key: String) -> String? {
            switch values[key] {
            case .string(let value) where !value.isEmpty: value
            case .int(let value): String(value)
            // A number past `Int`'s range (1e300) must not trap: it is shown as written.
            case .double(let value): Int(exactly: value).map(String.init) ?? String(value)
            default: nil
            }
        }
        if let repo = text("repo") {
            if let number = text("number") { return "\(repo)#\(number)" }
            if let path = text("path") { return "\(repo):\(path)" }
            return repo
        }
        if let channel = text("channel") {
            if let thread = text("thread_ts") ?? text("ts") { return "channel \(channel), thread \(thread)" }
            return "channel \(channel)"
        }
        if let issue = text("issueId") ?? text("id") { return "issue \(issue)" }
        if let team = text("teamId") { return "team \(team)" }
        // A query is the model's own words (and may hold what it read): named, never shown.
        if text("query") != nil { return "search" }
        return text("account").map { "account \($0)" }
    }

    /// The input as compact JSON, cut to `limit` characters, with token-shaped strings masked.
    static func summary(_ input: Value, limit: Int = 300) -> String {
        let masked = redacted(ToolJSON.text(input))
        return masked.count <= limit ? masked : String(masked.prefix(limit - 1)) + "…"
    }

    /// Provider tokens and API keys have recognisable prefixes (Slack's rotating `xoxe` tokens
    /// included), and JWTs begin with an encoded `{"`; none may reach the trail.
    static func redacted(_ text: String) -> String {
        text.replacingOccurrences(
            of:
                #"(?:xox[abposr]-|xoxe[.-]|xapp-|gh[opusr]_|github_pat_|lin_(?:api|oauth)_|sk-ant-|Bearer\s+)[A-Za-z0-9_\-\.]+|eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-\.]+"#,
            with: "[redacted]", options: .regularExpression)
    }
}
