import Foundation
import Shared

/// Callback URLs must be relative paths or on a trusted origin: never an open redirect.
///
/// Checked strictly, because the browser that follows the URL parses it by the WHATWG URL
/// standard, not as Foundation does: there a backslash is a slash (`https://evil.example\@app`
/// is evil.example to a browser but app to `URLComponents`), and tabs and newlines anywhere are
/// dropped (`/\t/evil.example` becomes `//evil.example`). So a callback URL has no backslash,
/// no control character or space, and no user info; a relative one is a path that cannot turn
/// protocol-relative.
struct CallbackURLPolicy: Sendable {
    let trustedOrigins: Set<String>

    func isAllowed(_ url: String) -> Bool {
        guard !url.isEmpty, url.utf8.allSatisfy(Self.isPlain) else { return false }
        if url.hasPrefix("/") {
            // "//host" is protocol-relative; "/%2F…" and "/%5C…" become it wherever the path is decoded once more.
            let rest = url.dropFirst().lowercased()
            return !rest.hasPrefix("/") && !rest.hasPrefix("%2f") && !rest.hasPrefix("%5c")
        }
        guard let components = URLComponents(string: url), components.user == nil, components.password == nil,
            let origin = Origin.normalise(url)
        else { return false }
        return trustedOrigins.contains(origin)
    }

    func check(_ url: String?, field: String = "callbackURL") throws {
        guard let url else { return }
        guard isAllowed(url) else { throw AppError.forbidden("INVALID_CALLBACK_URL", "Invalid \(field)") }
    }

    /// Not a control character, a space, DEL or a backslash (bytes of non-ASCII characters pass).
    private static func isPlain(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte != 0x7F && byte != UInt8(ascii: "\\")
    }
}
