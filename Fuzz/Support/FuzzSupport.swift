// What every harness shares: libFuzzer's entry point and a scratch file for readers that only read files.
import Foundation
import FuzzDriver

/// Runs libFuzzer over the harness's LLVMFuzzerTestOneInput (SwiftPM links its own main, so each
/// harness's @main calls this instead of libFuzzer's).
public func runLibFuzzer() -> Never {
    exit(captioner_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv))
}

/// A file named `name` in this process's own scratch folder, for inputs that must be read from disk.
public func scratchFile(named name: String) -> URL {
    let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("captioner-fuzz-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name)
}
