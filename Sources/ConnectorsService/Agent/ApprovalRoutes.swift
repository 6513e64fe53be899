import DB
import Foundation
import Hummingbird
import Shared

/// `GET /agent/approvals` and `POST /agent/approvals/:id` (JWT): the caller's pending
/// approvals, and their decision on one.
struct ApprovalRoutes: Sendable {
    let approvals: ApprovalRepository
    let decisions: ApprovalDecisions

    struct DecisionRequest: Decodable {
        let decision: String
    }

    struct ApprovalList: Encodable {
        let approvals: [ApprovalView]
    }

    func addRoutes(to router: Router<ConnectorsRequestContext>, policies: RoutePolicies) {
        let group = router.group().add(middleware: policies.body.json).add(middleware: policies.auth.required)
            .add(middleware: policies.limit.perUser)
        /// The caller's approvals that wait for a decision, oldest first.
        group.get("/agent/approvals") { _, context in
            let user = try context.requireUser()
            return try Response.json(
                ApprovalList(approvals: try await approvals.pending(userId: user.id).map(ApprovalView.init)))
        }
        /// Approves or denies one of the caller's approvals, once (409 after; 404 for another's).
        group.post("/agent/approvals/:id") { request, context in
            let user = try context.requireUser()
            let body = try await JSONBody.decode(DecisionRequest.self, from: request, context: context)
            guard let decision = Approval.Decision(rawValue: body.decision) else {
                throw AppError.badRequest("VALIDATION_ERROR", "The field decision must be approve or deny.")
            }
            let id = try context.parameters.require("id")
            switch try await decisions.decide(id: id, userId: user.id, decision, surface: .api, decidedBy: "user") {
            case .decided(let approval): return try Response.json(ApprovalView(approval))
            case .alreadyDecided(let status):
                throw AppError(
                    .conflict, code: "ALREADY_DECIDED", message: "This approval was already \(status.rawValue).")
            case .notFound: throw AppError.notFound("APPROVAL_NOT_FOUND", "No such approval.")
            }
        }
    }
}
