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

/// Runs `caption` with `arguments`, reading both pipes concurrently so large outputs cannot block it.
func runCaption(_ arguments: [String], stdin: String? = nil) throws -> CaptionRun {
    let process = Process()
    process.executableURL = try captionExecutable()
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(["CAPTIONER_THREADS": "1"]) { _, new in new }
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    let stderrData = ReadBuffer()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        stderrData.data = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()     // orders the reader's write before the read below
    process.waitUntilExit()
    return CaptionRun(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                      stderr: String(decoding: stderrData.data, as: UTF8.self))
}

/// Bytes one reader thread fills while the caller waits on a DispatchGroup.
private final class ReadBuffer: @unchecked Sendable {
    var data = Data()
}
