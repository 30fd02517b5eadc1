/// The gtmd version, printed by `gtmd --version` and sent for `version.bind` when configured.
public enum GtmdVersion {
    public static let string = "0.1.0"
}
