import DB
import Foundation
import Hummingbird
import Shared

/// `GET /audit?limit=&cursor=` (JWT): the caller's own audit events, newest first.
struct AuditRoutes: Sendable {
    let audit: AuditTrail

    struct EventList: Encodable {
        let events: [AuditEventView]
        let nextCursor: String?
    }

    func addRoutes(to router: Router<ConnectorsRequestContext>, policies: RoutePolicies) {
        let group = router.group().add(middleware: policies.body.json).add(middleware: policies.auth.required)
            .add(middleware: policies.limit.perUser)
        /// A page of the caller's events; `nextCursor` fetches the next (older) one.
        group.get("/audit") { request, context in
            let user = try context.requireUser()
            let page = try Page(request)
            let before = try page.cursor.map { text in
                guard let id = Int64(text), id > 0 else {
                    throw AppError.badRequest("VALIDATION_ERROR", "The cursor is not one this API gave.")
                }
                return id
            }
            let found = try await audit.list(userId: user.id, limit: page.limit + 1, before: before)
            let shown = Array(found.prefix(page.limit))
            return try Response.json(
                EventList(
                    events: shown.map(AuditEventView.init),
                    nextCursor: found.count > page.limit ? shown.last.map { String($0.id) } : nil))
        }
    }
}
