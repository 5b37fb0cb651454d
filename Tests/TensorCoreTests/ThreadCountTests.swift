import Foundation
import Testing
import TestSupport
@testable import TensorCore

/// The kernels' team is sized from the cores this process may use, not every core of the machine.
@Suite struct ThreadCountTests {
    func quota(_ files: [String: String]) throws -> Double? {
        let root = try TemporaryDirectory()
        for (path, text) in files {
            let url = root.url.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        return Threads.cgroupQuota(root: root.url.path)
    }

    @Test func cgroupQuotasAreReadInBothVersions() throws {
        #expect(try quota(["cpu.max": "150000 100000\n"]) == 1.5)
        #expect(try quota(["cpu.max": "max 100000\n"]) == nil)
        #expect(try quota(["cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"]) == 0.5)
        #expect(try quota(["cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"]) == nil)
        #expect(try quota([:]) == nil)
    }

    @Test func theDefaultNeverExceedsTheMachine() {
        let cores = Threads.availableCores()
        #expect(cores >= 1 && cores <= ProcessInfo.processInfo.activeProcessorCount)
    }
}
