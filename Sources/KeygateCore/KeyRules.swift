/// Why a new or renamed key is refused; the engine turns these into API errors.
public enum KeyRuleViolation: Error, Equatable, Sendable {
    case limitReached(account: String, count: Int, limit: Int, policy: String)
    case nameTaken(account: String, name: String)
    case unknownKey(account: String, id: String)
}

/// The rules on an account's keys, as pure functions of the state and policy.
public enum KeyRules {
    /// A new key named `name` may be added to `account` under `policy`. Expired
    /// keys (waiting for the sweep) do not count against the limit.
    public static func checkCreate(account: String, name: String, index: CredentialIndex, policy: Policy, now: Timestamp) throws(KeyRuleViolation) {
        let count = index.unexpiredKeyCount(account: account, now: now)
        if count >= policy.maxKeys {
            throw .limitReached(account: account, count: count, limit: policy.maxKeys, policy: policy.name)
        }
        if index.keys(account: account).contains(where: { $0.name == name }) {
            throw .nameTaken(account: account, name: name)
        }
    }

    /// The key `id` of `account`, which may be renamed to `newName`.
    public static func checkUpdate(account: String, id: String, newName: String?, index: CredentialIndex) throws(KeyRuleViolation) -> APIKey {
        guard let key = index.key(id: id), key.account == account else { throw .unknownKey(account: account, id: id) }
        if let n = newName, index.keys(account: account).contains(where: { $0.name == n && $0.id != id }) {
            throw .nameTaken(account: account, name: n)
        }
        return key
    }
}
