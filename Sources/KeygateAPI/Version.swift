public enum KeygateVersion {
    public static let string = "0.1.0"
}
