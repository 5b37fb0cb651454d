import Foundation
import Testing
import TensorCore
import TestSupport

/// `caption bench --load N` runs N busy loops beside itself and leaves none behind, however it exits.
@Suite struct BenchLoadTests {
    /// The pids of the busy loops that process `parent` started (`caption bench --busy-loop <parent>`).
    static func busyLoops(of parent: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return arguments.suffix(2) == ["--busy-loop", String(parent)]
        }
    }

    static func awaitCondition(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    @Test func theLoadIsReportedAndStoppedAtTheEnd() throws {
        let running = try RunningCaption(["bench", "--json", "--load", "2", "--only", "beam3_showtell_gru_ms", "--seconds", "1"])
        let pid = running.process.processIdentifier
        #expect(Self.awaitCondition(seconds: 10) { Self.busyLoops(of: pid).count == 2 }, "two busy loops run beside the bench")
        let run = running.wait()
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["load"] as? Int == 2)
        #expect((object["beam3_showtell_gru_ms"] as? Double ?? 0) > 0)
        #expect(Self.busyLoops(of: pid).isEmpty)
    }

    @Test func aKilledBenchTakesItsLoadWithIt() throws {
        let running = try RunningCaption(["bench", "--load", "1", "--only", "train_showtell_gru_tokens_per_s", "--seconds", "60"])
        let pid = running.process.processIdentifier
        #expect(Self.awaitCondition(seconds: 10) { Self.busyLoops(of: pid).count == 1 })
        running.signal(SIGKILL)
        _ = running.wait()
        #expect(Self.awaitCondition(seconds: 5) { Self.busyLoops(of: pid).isEmpty }, "the busy loop outlived the bench")
    }

    @Test func aBadLoadIsRefused() throws {
        let run = try runCaption(["bench", "--load", "-1"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("--load"))
    }

    /// A default team shrinks beside a busy loop (docs/performance.md, "Threads"); a chosen one stays.
    @Test(.enabled(if: ProcessInfo.processInfo.activeProcessorCount >= 2))
    func aDefaultTeamMakesRoomForTheLoadAndAChosenOneStays() throws {
        func threads(_ extra: [String]) throws -> Int? {
            // An empty CAPTIONER_THREADS leaves the team to the default (runCaption would fix it at 1).
            let run = try runCaption(["bench", "--json", "--load", "1", "--only", "greedy_showtell_gru_b64_captions_per_s",
                                      "--seconds", "3"] + extra, environment: ["CAPTIONER_THREADS": ""])
            #expect(run.status == 0, "\(run.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            return object?["threads"] as? Int
        }
        let cores = Threads.availableCores()
        guard cores == ProcessInfo.processInfo.activeProcessorCount else { return }   // the follower needs every core
        let followed = try #require(try threads([]))
        #expect(followed < cores, "the team kept all \(cores) cores beside a busy loop")
        #expect(try threads(["--threads", String(cores)]) == cores)
    }
}
