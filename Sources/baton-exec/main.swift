// baton-exec: the per-rank wrapper of `baton exec` as an executable of its own, for
// `baton launch` to start on every rank. The code is the BatonExec module (Sources/BatonExec,
// over BatonProtocol and BatonSystem), which baton exec runs too; this binary only leaves out what the
// wrapper never uses (MPI, verbs, GRDB, Yams, the argument parser), which is most of
// `baton`'s start-up time (docs/launch.md, "Node loss and overhead").
// Anything it does not parse itself (help, unknown or malformed options, bad values) it
// hands to `baton exec` beside it, so errors and help read exactly the same.
import BatonProtocol
import BatonSystem
import BatonExec
#if canImport(Glibc)
import Glibc
#endif

let args = Array(CommandLine.arguments.dropFirst())

func handOver() -> Never {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    var path = n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    if let slash = path.lastIndex(of: "/") { path = String(path[...slash]) + "baton" } else { path = "baton" }
    let argv = [path, "exec"] + args
    var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
    cargs.append(nil)
    execv(path, &cargs)
    let msg = "baton-exec: cannot start \(path) exec: \(String(cString: strerror(errno)))\n"
    _ = writeAll(fd: 2, msg)
    exit(127)
}

func currentEnvironment() -> [String: String] {
    var environment: [String: String] = [:]
    var e = environ
    while let p = e.pointee {
        let s = String(cString: p)
        if let eq = s.firstIndex(of: "=") { environment[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
        e += 1
    }
    return environment
}

// `baton-exec guard --head MARK`: what a head starts with its first attempt (MpirunGuard).
if let mark = GuardArguments.parse(args) { MpirunGuard.run(head: mark) }
// `baton-exec health ...`: the node side of launch's health gate (NodeHealth).
if let health = HealthArguments.parse(args) { NodeHealth.run(health) }

guard let parsed = ExecArguments.parse(args) else { handOver() }
let dir = currentDirectory()
let environment = currentEnvironment()
let options: ExecOptions
do {
    options = try parsed.options(environment: environment, currentDirectory: dir)
} catch {
    handOver()
}
exit(ExecWrapper(options: options).run())
