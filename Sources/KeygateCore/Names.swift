/// Key names: 1-100 characters (Unicode code points, as JSON Schema counts),
/// trimmed of surrounding white space, no control characters, unique within
/// the account (checked by `KeyRules`), and never shaped like a secret.
public enum KeyName {
    public static let maxLength = 100

    /// The trimmed name, or a reason naming the rule it breaks.
    public static func validate(_ raw: String) throws(KeygateError) -> String {
        guard raw.unicodeScalars.count <= maxLength else {
            throw .invalidArgument("'name' is \(raw.unicodeScalars.count) characters; at most \(maxLength)")
        }
        let trimmed = String(String.UnicodeScalarView(raw.unicodeScalars.drop(while: \.properties.isWhitespace).reversed()
            .drop(while: \.properties.isWhitespace).reversed()))
        guard !trimmed.isEmpty else { throw .invalidArgument("'name' must not be empty") }
        if trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw .invalidArgument("'name' must not contain control characters")
        }
        if SecretFormat.containsSecretRun(trimmed) {
            throw .invalidArgument("'name' looks like a Keygate secret; a name is shown in lists and logs, so it is refused")
        }
        return trimmed
    }
}

extension AccountName {
    /// A valid account name, refused when it is shaped like a secret: a key
    /// pasted into the account argument would otherwise be stored, listed and logged.
    public static func validateNew(_ account: String) throws(KeygateError) {
        if SecretFormat.containsSecretRun(account) {
            throw .invalidArgument("the account name looks like a Keygate secret; refusing to store it as a name")
        }
    }
}
