import Foundation

/// The NCCL configuration files on the host (NCCL reads the environment, then
/// `NCCL_CONF_FILE` or `~/.nccl.conf`, then /etc/nccl.conf).
public struct NCCLConfigFiles: Sendable, Equatable {
    /// Logical paths of /etc/nccl.conf and /etc/nccl that exist, to mount read-only.
    var mountable: [String]
    /// Each file found, with its settings in file order.
    var files: [(path: String, settings: [(key: String, value: String, line: Int)])]

    public static func == (a: NCCLConfigFiles, b: NCCLConfigFiles) -> Bool {
        a.mountable == b.mountable && a.files.map(\.path) == b.files.map(\.path)
    }

    /// Looks under the etc root, then in `NCCL_CONF_FILE` or `$HOME/.nccl.conf` from `environment`.
    public init(roots: ProbeRoots, environment: [String: String] = [:]) {
        mountable = []
        files = []
        let conf = roots.etcPath("nccl.conf")
        if FileReading.exists(conf.real) && !FileReading.isDirectory(conf.real) { mountable.append(conf.logical) }
        let dir = roots.etcPath("nccl")
        if FileReading.isDirectory(dir.real) { mountable.append(dir.logical) }
        var candidates: [(real: String, shown: String)] = []
        if let custom = environment["NCCL_CONF_FILE"], !custom.isEmpty {
            candidates.append((custom, custom))
        } else if let home = environment["HOME"], !home.isEmpty {
            candidates.append((home + "/.nccl.conf", home + "/.nccl.conf"))
        }
        candidates.append((conf.real, conf.logical))
        for candidate in candidates {
            guard let text = FileReading.read(candidate.real).text else { continue }
            files.append((candidate.shown, Self.parse(text)))
        }
    }

    /// `KEY=VALUE` lines; `#` comments and blank lines skipped (NCCL's own format).
    static func parse(_ text: String) -> [(key: String, value: String, line: Int)] {
        var settings: [(key: String, value: String, line: Int)] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let eq = line.firstIndex(of: "=") else { continue }
            settings.append((String(line[..<eq]).trimmingCharacters(in: .whitespaces),
                             String(line[line.index(after: eq)...]).trimmingCharacters(in: .whitespaces), i + 1))
        }
        return settings
    }
}
