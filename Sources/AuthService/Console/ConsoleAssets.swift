import Crypto
import Foundation
import NIOCore

/// The web console's static files, read once from the bundle into memory. Each asset is served
/// under a name carrying a hash of its content (`console.3f9a1c2e.js`), so it can be cached for
/// a year and a new build is never mixed with an old one; `index.html` names them and is served
/// `no-cache`.
struct ConsoleAssets: Sendable {
    struct Asset: Sendable {
        let body: ByteBuffer
        let contentType: String
    }

    /// Hashed name → asset.
    let assets: [String: Asset]
    let index: ByteBuffer

    static let contentTypes = [
        "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon",
    ]

    /// Loads `Console/Public` from the bundle; nil when it is missing (then `/` is a 404).
    /// Without GitHub sign-in configured, its button is left out of the page.
    static func load(githubSignIn: Bool) -> ConsoleAssets? {
        guard let directory = Bundle.module.url(forResource: "Public", withExtension: nil),
            let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path),
            var html = try? String(contentsOf: directory.appendingPathComponent("index.html"), encoding: .utf8)
        else { return nil }
        var assets = [String: Asset]()
        for name in names.sorted() where name != "index.html" {
            let url = directory.appendingPathComponent(name)
            guard let data = try? Data(contentsOf: url), let type = contentTypes[url.pathExtension] else { continue }
            let hash = SHA256.hash(data: data).prefix(4).map { String(format: "%02x", $0) }.joined()
            let hashed = "\(url.deletingPathExtension().lastPathComponent).\(hash).\(url.pathExtension)"
            assets[hashed] = Asset(body: ByteBuffer(bytes: data), contentType: type)
            html = html.replacingOccurrences(of: "{{\(name)}}", with: "/assets/\(hashed)")
        }
        if !githubSignIn, let start = html.range(of: "<!--github-->"), let end = html.range(of: "<!--/github-->") {
            html.removeSubrange(start.lowerBound..<end.upperBound)
        }
        return ConsoleAssets(assets: assets, index: ByteBuffer(string: html))
    }
}
