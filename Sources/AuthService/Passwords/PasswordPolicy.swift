import Shared

/// What a new password must be: 8 to 128 UTF-16 code units, as Better Auth counts them.
enum PasswordPolicy {
    static let minimumLength = 8
    static let maximumLength = 128

    /// 400 `PASSWORD_TOO_SHORT` / `PASSWORD_TOO_LONG`.
    static func check(_ password: String) throws {
        let length = password.utf16.count
        if length < minimumLength { throw AppError.badRequest("PASSWORD_TOO_SHORT", "Password too short") }
        if length > maximumLength { throw AppError.badRequest("PASSWORD_TOO_LONG", "Password too long") }
    }
}
