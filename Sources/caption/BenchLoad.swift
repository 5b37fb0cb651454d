import CKernels
import Foundation

/// `caption bench --load N`: N busy loops beside the benchmark, as other work on a shared machine
/// (a build, another training, a neighbour's container) competes for its cores. Each loop is this
/// executable in its hidden `--busy-loop` mode, which the kernel kills as soon as the benchmark
/// exits, however it exits (a signal, a crash).
final class BusyLoops {
    private var processes: [Process] = []

    init(count: Int) throws {
        for _ in 0..<count {
            let process = Process()
            process.executableURL = Bench.executableURL
            process.arguments = ["bench", "--busy-loop", String(getpid())]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            processes.append(process)
        }
        if count > 0 { usleep(200_000) }        // let them start and the scheduler see them
    }

    deinit { stop() }

    func stop() {
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for process in processes { process.waitUntilExit() }
        processes = []
    }

    /// The loop itself: integer work that never ends, until the parent `parent` exits.
    static func spin(parent: Int32) -> Never {
        _ = captioner_die_with_parent()
        if getppid() != parent { exit(0) }     // the parent exited before the kernel was told
        var x: UInt64 = 1
        while true {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            if x == 0 { print("", terminator: "") }   // never true; keeps the loop from being removed
        }
    }
}
