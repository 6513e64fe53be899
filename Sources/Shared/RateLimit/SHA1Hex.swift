import Crypto

/// Redis names cached scripts by the SHA-1 of their text (`EVALSHA`); SHA-1 is used here only
/// as that identifier, never for security.
enum SHA1Hex {
    static func digest(_ text: String) -> String {
        Hex.encode(Insecure.SHA1.hash(data: Array(text.utf8)))
    }
}
