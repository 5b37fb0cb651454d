import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a run of the `caption` executable printed and how it exited.
public struct CaptionRun: Sendable {
    /// The exit code, or 128 + the signal that killed the process (as a shell reports it).
    public let status: Int32
    public let stdout: String
    public let stderr: String
    /// Whether the run outlasted its timeout and was killed with SIGKILL (the test then records an issue).
    public let timedOut: Bool
}

/// The `caption` executable SwiftPM built beside the test bundle (`swift build --build-tests` builds every product).
public func captionExecutable() throws -> URL {
    let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var directory = runner.deletingLastPathComponent()
    // The runner may be inside a bundle folder (`….xctest/…`); walk up to the build products folder.
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("caption")
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            return candidate
        }
        directory = directory.deletingLastPathComponent()
    }
    throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "caption next to \(runner.path)"])
}

/// Runs `caption` with `arguments` to the end and returns its exit status and both outputs.
///
/// - `environment`: variables added to (or replacing) the test process's own; `CAPTIONER_THREADS=1`
///   is set unless given here.
/// - `stdin`: bytes written to the child's standard input, which is then closed (empty if nil).
/// - `directory`: the child's working directory (the test process's if nil).
/// - `timeout`: the child is killed with SIGKILL after this long and the test records an issue.
/// - `executable`: another program instead of `caption` (for the few system commands tests need).
public func runCaption(_ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil, directory: URL? = nil,
                       timeout: Duration = .seconds(600), executable: URL? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation) throws -> CaptionRun {
    try RunningCaption(arguments, environment: environment, stdin: stdin, directory: directory, timeout: timeout,
                       executable: executable).wait(sourceLocation: sourceLocation)
}

/// `runCaption` for async tests: the wait happens on a thread of its own, so a long child (a whole
/// `swift build`) never holds one of the few threads of Swift's cooperative pool that other tests'
/// servers need.
public func runCaptionOffPool(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(600),
                              executable: URL? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> CaptionRun {
    let running = try RunningCaption(arguments, environment: environment, timeout: timeout, executable: executable)
    return await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: running.wait(sourceLocation: sourceLocation)) }
    }
}

/// A `caption` process that is still running: tests wait for a file it writes, signal it, then `wait()`.
/// Both pipes are read concurrently from the start (and stdin written on its own thread), so a child
/// that fills one pipe while the test waits on the other cannot block.
public final class RunningCaption: @unchecked Sendable {
    public let process = Process()
    public let arguments: [String]
    private let timeout: Duration
    private let lock = NSLock()
    private var output = [Data(), Data()]   // stdout, stderr
    private var killedForTimeout = false
    private let readers = DispatchGroup()

    /// Starts the process; the parameters are those of `runCaption`.
    public init(_ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil, directory: URL? = nil,
                timeout: Duration = .seconds(600), executable: URL? = nil) throws {
        self.arguments = arguments
        self.timeout = timeout
        process.executableURL = try executable ?? captionExecutable()
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment
            .merging(["CAPTIONER_THREADS": "1"]) { _, new in new }
            .merging(environment) { _, new in new }
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        for (index, pipe) in [out, err].enumerated() {
            readers.enter()
            // A thread of its own: a read that blocks for the whole run must not hold a shared pool thread.
            Thread.detachNewThread { [self] in
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                lock.withLock { output[index] = data }
                readers.leave()
            }
        }
        let writer = input.fileHandleForWriting
        Thread.detachNewThread {
            // A child that exits without reading its input must give this write EPIPE, not the
            // test process a SIGPIPE: the signal is blocked on this thread only.
            var pipeSignal = sigset_t()
            sigemptyset(&pipeSignal)
            sigaddset(&pipeSignal, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
            if let stdin, !stdin.isEmpty { try? writer.write(contentsOf: stdin) }
            try? writer.close()
        }
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = Int(min(Double(seconds) * 1e9 + Double(attoseconds) * 1e-9, Double(Int.max / 2)))
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [weak self] in self?.expire() }
    }

    private func expire() {
        guard process.isRunning else { return }
        lock.withLock { killedForTimeout = true }
        kill(process.processIdentifier, SIGKILL)
    }

    /// Sends `signal` to the running process (SIGINT is the user's Ctrl-C).
    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit and both pipes to end; records an issue if it had to be killed for time.
    public func wait(sourceLocation: SourceLocation = #_sourceLocation) -> CaptionRun {
        process.waitUntilExit()
        readers.wait()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        let (stdout, stderr, timedOut) = lock.withLock { (output[0], output[1], killedForTimeout) }
        if timedOut {
            let program = process.executableURL?.lastPathComponent ?? "the child"
            let comment = Comment(rawValue: "\(program) \(arguments.joined(separator: " ")) outlasted its timeout of \(timeout) and was killed")
            Issue.record(comment, sourceLocation: sourceLocation)
        }
        return CaptionRun(status: status, stdout: String(decoding: stdout, as: UTF8.self),
                          stderr: String(decoding: stderr, as: UTF8.self), timedOut: timedOut)
    }
}
