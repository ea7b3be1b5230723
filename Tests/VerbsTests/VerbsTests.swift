import Foundation
import Testing
@testable import Verbs

@Suite("Verbs")
struct VerbsTests {
    @Test("ibv_get_device_list is really called: without kernel verbs it fails with ENOSYS, which reads as 'no devices'")
    func deviceListOnThisMachine() throws {
        let kernelHasVerbs = FileManager.default.fileExists(atPath: "/sys/class/infiniband_verbs")
        do {
            let devices = try Device.list()
            // Only possible where the kernel has verbs (with or without devices).
            #expect(kernelHasVerbs)
            for d in devices { #expect(d.uverbsName.hasPrefix("uverbs")) }
        } catch {
            #expect(error.function == "ibv_get_device_list")
            if !kernelHasVerbs {
                #expect(error.isNoKernelSupport)
                #expect(error.code.errnoValue == ENOSYS)
                #expect(error.description.contains("no RDMA verbs"))
            }
        }
    }

    @Test("opening a device that is not there is an error, never a crash")
    func openMissingDevice() {
        #expect(throws: VerbsError.self) { _ = try Context(named: "mlx5_does_not_exist") }
    }

    @Test("GIDs parse from the sysfs form and print back the same way")
    func gidRoundTrip() throws {
        let text = "fe80:0000:0000:0000:0e42:a1ff:fe9a:6766"
        let gid = try #require(GID(sysfs: text))
        #expect(gid.description == text)
        #expect(gid.isLinkLocal && !gid.isZero && gid.ipv4 == nil)
        let v4 = try #require(GID(sysfs: "0000:0000:0000:0000:0000:ffff:0a01:0005"))
        #expect(v4.ipv4 == "10.1.0.5")
        #expect(GID(sysfs: "0000:0000:0000:0000:0000:0000:0000:0000")?.isZero == true)
        #expect(GID(sysfs: "fe80:0000:0000:0000:0e42:a1ff:fe9a") == nil)
        #expect(GID(sysfs: "fe80::1") == nil)
        #expect(GID(bytes: [UInt8](repeating: 0, count: 15)) == nil)
    }

    @Test("GID types use the sysfs spelling")
    func gidTypes() {
        #expect(GIDType(sysfs: "RoCE v2") == .roceV2)
        #expect(GIDType(sysfs: "IB/RoCE v1")?.description == "IB/RoCE v1")
        #expect(GIDType(sysfs: "RoCE v3") == nil)
    }

    @Test("port speed and width codes give the link rate: 4X HDR is 200 Gb/s, 4X FDR 56")
    func rates() {
        #expect(PortAttributes.lanes(width: 2) == 4)
        #expect(PortAttributes.laneGbps(speed: 64) == 50)
        #expect(PortAttributes.laneGbps(speed: 16) == 14)
        #expect(PortAttributes.laneGbps(speed: 3) == nil)
        #expect(PortState.active.description == "ACTIVE" && PortState(rawValue: 9).description == "UNKNOWN(9)")
    }

    @Test("return codes: 0 passes, a positive errno and -1 with errno both throw naming the function")
    func check() {
        #expect(throws: Never.self) { try VerbsError.check(0, "ibv_query_port") }
        do {
            try VerbsError.check(EINVAL, "ibv_query_port")
            Issue.record("no error thrown")
        } catch {
            #expect(error.function == "ibv_query_port" && error.code.errnoValue == EINVAL)
            #expect(error.description.hasPrefix("ibv_query_port failed: EINVAL"))
        }
    }
}
