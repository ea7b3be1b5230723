import BatonCore
import BatonSystem
#if canImport(Glibc)
import Glibc
#endif

/// Prints rank lines as `node:rank text`, messages on stderr, and a status line redrawn in
/// place when stderr is a terminal.
struct TerminalConsole: LaunchConsole {
    static let statusShown = Locked(false)
    let tty = isatty(2) == 1

    func clearStatus() {
        TerminalConsole.statusShown.with { shown in
            if shown { writeAll(fd: 2, "\r\u{1B}[K"); shown = false }
        }
    }

    func rankLine(node: String, rank: Int, text: String, isError: Bool) {
        clearStatus()
        writeAll(fd: isError ? 2 : 1, "\(node):\(rank) \(text)\n")
    }

    func message(_ text: String) {
        clearStatus()
        writeAll(fd: 2, text + "\n")
    }

    func status(_ text: String) {
        guard tty else { return }
        TerminalConsole.statusShown.with { shown in
            writeAll(fd: 2, "\r\u{1B}[K" + text)
            shown = true
        }
    }
}
