import Foundation
import Synchronization

/// Measures how many cores other processes keep busy and sizes the kernels' team to what they leave.
/// Two threads that wait on each other at every product lose a scheduler slice whenever one is
/// preempted, so beside one busy process a team of one is several times faster than a team of two
/// (docs/performance.md, "Threads"). Over each window of at least half a second it compares the
/// machine's busy CPU time (/proc/stat) with this process's own (getrusage): the difference is the
/// others' load, from which `size` tells how many busy threads they run. A smaller team is taken at
/// once, a larger one when two windows in a row agree on it.
final class LoadFollower: Sendable {
    static let shared = LoadFollower()

    /// The machine's and this process's busy CPU time at one moment.
    private struct Sample {
        let time: UInt64                     // monotonic ns
        let machineBusy: Double              // seconds of busy CPU time, all cores
        let ownBusy: Double                  // seconds of this process's CPU time

        static func now() -> Sample? {
            guard let machine = LoadFollower.machineBusySeconds() else { return nil }
            return Sample(time: DispatchTime.now().uptimeNanoseconds, machineBusy: machine, ownBusy: LoadFollower.ownBusySeconds())
        }

        /// The cores the others and this process kept busy, on average, since `earlier`.
        func busyCores(since earlier: Sample) -> (others: Double, own: Double) {
            let seconds = max(Double(time - earlier.time) / 1e9, 1e-3)
            let own = ownBusy - earlier.ownBusy
            return (max(0, (machineBusy - earlier.machineBusy) - own) / seconds, own / seconds)
        }
    }

    private struct Window {
        var start: Sample?
        var proposal: Int?                   // the size the previous window asked for
        var size: Int?
    }

    private let state = Mutex(Window())
    /// Only where the process may use every core of the machine: /proc/stat counts them all.
    private let applies: Bool
    private static let windowNanoseconds: UInt64 = 500_000_000

    private init() {
        applies = Threads.availableCores() == ProcessInfo.processInfo.activeProcessorCount
            && FileManager.default.isReadableFile(atPath: "/proc/stat")
    }

    /// The team size for now, or nil while there is no measurement yet.
    func teamSize(requested: Int, team: Int) -> Int? {
        guard applies else { return nil }
        let now = DispatchTime.now().uptimeNanoseconds
        return state.withLock { window in
            if let start = window.start, now - start.time < Self.windowNanoseconds { return window.size }
            guard let sample = Sample.now() else { return nil }
            defer { window.start = sample }
            guard let start = window.start else { return nil }
            let busy = sample.busyCores(since: start)
            let proposal = Self.size(requested: requested, team: team, othersBusyCores: busy.others, ownBusyCores: busy.own)
            // Shrink at once (a preempted partner costs more than a missing one), grow only when
            // two windows agree.
            if proposal < (window.size ?? requested) || proposal == window.proposal { window.size = proposal }
            window.proposal = proposal
            return window.size
        }
    }

    /// The team for the others' load measured over `seconds` while this process waits: each busy
    /// thread of theirs then has a core to itself.
    func teamWhileIdle(requested: Int, seconds: Double) -> Int? {
        guard applies, let start = Sample.now() else { return nil }
        usleep(UInt32(seconds * 1e6))
        guard let end = Sample.now() else { return nil }
        return Self.size(requested: requested, team: 1, othersBusyCores: end.busyCores(since: start).others, ownBusyCores: 1)
    }

    /// The team for the others' load. Beside `others` busy processes the scheduler shares the cores
    /// evenly among every runnable thread, so each of this team's threads got `own / team` cores and
    /// the others ran about `others / (own / team)` busy threads; each one takes a core from the
    /// team (counted from 0.6 of one on), down to one thread.
    static func size(requested: Int, team: Int, othersBusyCores others: Double, ownBusyCores own: Double) -> Int {
        let perThread = max(own / Double(max(team, 1)), 0.05)
        let busyThreads = Int((others / perThread + 0.4).rounded(.down))
        return min(requested, max(1, requested - busyThreads))
    }

    /// Busy CPU time of every core from the first line of /proc/stat: all but idle and iowait.
    static func machineBusySeconds(_ text: String? = try? String(contentsOfFile: "/proc/stat", encoding: .utf8)) -> Double? {
        guard let line = text?.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let ticks = line.split(separator: " ").dropFirst().prefix(8).compactMap { Double($0) }
        guard ticks.count == 8 else { return nil }
        let busy = ticks.reduce(0, +) - ticks[3] - ticks[4]           // user nice system [idle iowait] irq softirq steal
        return busy / Double(max(sysconf(Int32(_SC_CLK_TCK)), 1))
    }

    static func ownBusySeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
