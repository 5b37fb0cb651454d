import Foundation

/// What a run of the `caption` executable printed and how it exited.
struct CaptionRun {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// The `caption` executable SwiftPM built beside this test bundle (`swift test` builds every product).
func captionExecutable() throws -> URL {
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

/// Runs `caption` with `arguments` to the end, reading both pipes concurrently so large outputs cannot block it.
func runCaption(_ arguments: [String], stdin: String? = nil) throws -> CaptionRun {
    try RunningCaption(arguments, stdin: stdin).wait()
}

/// A `caption` process that is still running: tests wait for a file it writes, then signal it.
final class RunningCaption: @unchecked Sendable {
    let process = Process()
    private let out = Pipe(), err = Pipe()
    private let group = DispatchGroup()
    private var stdoutData = Data(), stderrData = Data()

    init(_ arguments: [String], stdin: String? = nil) throws {
        process.executableURL = try captionExecutable()
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["CAPTIONER_THREADS": "1"]) { _, new in new }
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        for (pipe, isStdout) in [(out, true), (err, false)] {
            group.enter()
            DispatchQueue.global().async { [self] in
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                if isStdout { stdoutData = data } else { stderrData = data }
                group.leave()
            }
        }
    }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit. `status` is the exit code, or 128 + the signal that killed it.
    func wait() -> CaptionRun {
        group.wait()     // orders the readers' writes before the reads below
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return CaptionRun(status: status, stdout: String(decoding: stdoutData, as: UTF8.self),
                          stderr: String(decoding: stderrData, as: UTF8.self))
    }
}

/// Polls until `condition` holds; false if `seconds` pass first.
func eventually(seconds: Double = 60, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline { return false }
        usleep(2_000)
    }
    return true
}
