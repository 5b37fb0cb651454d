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

    /// Beside busy processes the scheduler shares the cores evenly, so the others' CPU time over this
    /// team's per-thread share counts their busy threads; each takes a core from the team.
    @Test func theTeamLeavesTheCoresOthersKeepBusy() {
        // Idle machine, two spinning threads: keep both.
        #expect(LoadFollower.size(requested: 2, team: 2, othersBusyCores: 0.05, ownBusyCores: 1.95) == 2)
        // One busy loop beside a team of two: three runnable threads share two cores.
        #expect(LoadFollower.size(requested: 2, team: 2, othersBusyCores: 0.67, ownBusyCores: 1.33) == 1)
        // Two busy loops: never below one thread.
        #expect(LoadFollower.size(requested: 2, team: 2, othersBusyCores: 1.0, ownBusyCores: 1.0) == 1)
        #expect(LoadFollower.size(requested: 2, team: 1, othersBusyCores: 1.33, ownBusyCores: 0.67) == 1)
        // The loop went away: the team of one sees an idle core and grows back.
        #expect(LoadFollower.size(requested: 2, team: 1, othersBusyCores: 0.02, ownBusyCores: 1.0) == 2)
        // Eight cores, two busy threads beside a full team.
        #expect(LoadFollower.size(requested: 8, team: 8, othersBusyCores: 1.6, ownBusyCores: 6.4) == 6)
        // A light background (a tenth of a core) takes nothing.
        #expect(LoadFollower.size(requested: 4, team: 4, othersBusyCores: 0.1, ownBusyCores: 3.9) == 4)
    }

    @Test func theMachinesBusyTimeIsReadFromProcStat() throws {
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        let text = "cpu  100 20 30 5000 40 5 6 7 0 0\ncpu0 50 10 15 2500 20 2 3 3 0 0\n"
        #expect(LoadFollower.machineBusySeconds(text) == (100 + 20 + 30 + 5 + 6 + 7) / hz)
        #expect(LoadFollower.machineBusySeconds("intr 1 2 3\n") == nil)
        #expect(LoadFollower.machineBusySeconds("cpu  1 2\n") == nil)
        #expect(LoadFollower.machineBusySeconds(nil) == nil)
        if FileManager.default.isReadableFile(atPath: "/proc/stat") {
            #expect((LoadFollower.machineBusySeconds() ?? 0) > 0)
        }
        #expect(LoadFollower.ownBusySeconds() > 0)
    }
}
