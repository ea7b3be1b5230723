import Testing
@testable import BatonCore

@Test func exitCodesAreDistinct() {
    let codes = [ExitCodes.success, ExitCodes.checkFailed, ExitCodes.badInput, ExitCodes.unavailable, ExitCodes.jobFailed, ExitCodes.usage, ExitCodes.interrupted]
    #expect(Set(codes).count == codes.count)
}
