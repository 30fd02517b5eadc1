#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// File paths as text, as the config and zone readers use them: the folder a file is in, a name joined to a
/// folder, the last part of a path. What Foundation's `NSString` path methods give for these uses, without
/// linking full Foundation.
public enum FilePaths {
    /// The path without its last part: `/etc/gtmd/gtmd.yaml` -> `/etc/gtmd`, `/gtmd.yaml` -> `/`,
    /// `gtmd.yaml` -> `` (empty), `/etc/gtmd/` -> `/etc`.
    public static func directory(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p.removeLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        if slash == p.startIndex { return "/" }
        var d = p[..<slash]
        while d.count > 1, d.hasSuffix("/") { d.removeLast() }
        return String(d)
    }

    /// `name` in `folder`: `/etc/gtmd` + `zones/lab.zone` -> `/etc/gtmd/zones/lab.zone`; an empty folder gives
    /// `name` itself.
    public static func join(_ folder: String, _ name: String) -> String {
        if folder.isEmpty { return name }
        if name.isEmpty { return folder }
        let head =
            folder.hasSuffix("/") ? String(folder.dropLast(folder.reversed().prefix { $0 == "/" }.count)) : folder
        let tail = name.drop { $0 == "/" }
        return head + "/" + tail
    }

    /// The last part: `/etc/gtmd/gtmd.yaml` -> `gtmd.yaml`, `/etc/gtmd/` -> `gtmd`, `/` -> `/`.
    public static func lastComponent(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p.removeLast() }
        if p == "/" { return "/" }
        guard let slash = p.lastIndex(of: "/") else { return String(p) }
        return String(p[p.index(after: slash)...])
    }

    /// Something exists at `path` (a file, a folder, or a link to one): one `access(2)`, as `FileManager`'s
    /// `fileExists(atPath:)` answers it, without making `FileManager.default` at start-up.
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// `path` if absolute, else joined to `folder` (a config's relative paths are read from the config's folder).
    public static func resolve(_ path: String, in folder: String) -> String {
        path.hasPrefix("/") ? path : join(folder, path)
    }
}
