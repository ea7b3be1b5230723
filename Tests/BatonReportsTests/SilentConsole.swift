@testable import BatonLaunch

// The same test double as in BatonLaunchTests/LaunchPlanTests.swift (a test target cannot
// import another's declarations).

struct SilentConsole: LaunchConsole {
    func rankLine(node: String, rank: Int, text: String, isError: Bool) {}
    func message(_ text: String) {}
    func status(_ text: String) {}
}
