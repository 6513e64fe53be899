import Crypto
import Shared

/// Whose failures the auth service's lockouts count.
extension FailureLockout {
    /// Sign-in's subject: one email from one IP. The email is hashed so Redis holds no addresses.
    static func signIn(email: String, ip: String) -> String {
        Hex.encode(SHA256.hash(data: Array(email.utf8)).prefix(16)) + ":" + ip
    }

    /// `change-password`'s subject: the user, whatever the IP.
    static func changePassword(userId: String) -> String { userId }
}
