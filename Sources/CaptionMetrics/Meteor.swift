import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// METEOR 1.5 computed by the official `meteor-1.5.jar` that ships in the pycocoevalcap wheel, driven over
/// its `-stdio` protocol exactly as pycocoevalcap's meteor.py does:
/// `java -jar -Xmx2G meteor-1.5.jar - - -stdio -l en -norm`, one `SCORE ||| ref… ||| hyp` line per image
/// (answered by a statistics line), then one `EVAL ||| stats ||| …` line answered by one score per image
/// and the corpus score.
///
/// SPICE, the other Java metric of pycocoevalcap, is deliberately not offered: it needs Java 8 and
/// downloads the Stanford CoreNLP models (~1 GB) at run time, which these machines cannot do.
public struct MeteorScorer: Sendable {
    public let javaPath: String
    public let jarPath: String

    /// Why METEOR cannot run, as one sentence with the fix.
    public enum Unavailable: Error, CustomStringConvertible, Equatable {
        case noJava
        case noJar(searched: [String])

        public var description: String {
            switch self {
            case .noJava:
                return "METEOR needs Java: apt-get install default-jre-headless"
            case .noJar(let searched):
                return "METEOR needs meteor-1.5.jar (looked in \(searched.joined(separator: ", "))): run scripts/bootstrap"
            }
        }
    }

    /// The METEOR process failed while scoring.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public init(javaPath: String, jarPath: String) {
        self.javaPath = javaPath
        self.jarPath = jarPath
    }

    /// Finds Java (JAVA_HOME, then PATH) and the jar (`$CAPTIONER_CACHE/pycocoevalcap/meteor/`, then
    /// `.cache/pycocoevalcap/meteor/` in the current directory, the executable's directory, or a parent).
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment)
        -> Result<MeteorScorer, Unavailable>
    {
        guard let java = findJava(environment) else { return .failure(.noJava) }
        var directories: [String] = []
        if let cache = environment["CAPTIONER_CACHE"], !cache.isEmpty {
            directories.append((cache as NSString).appendingPathComponent("pycocoevalcap/meteor"))
        }
        var roots = [FileManager.default.currentDirectoryPath]
        if let executable = Bundle.main.executablePath { roots.append((executable as NSString).deletingLastPathComponent) }
        for root in roots {
            var directory = root
            while true {
                directories.append((directory as NSString).appendingPathComponent(".cache/pycocoevalcap/meteor"))
                let parent = (directory as NSString).deletingLastPathComponent
                if parent == directory || parent.isEmpty { break }
                directory = parent
            }
        }
        for directory in directories {
            let jar = (directory as NSString).appendingPathComponent("meteor-1.5.jar")
            if FileManager.default.isReadableFile(atPath: jar) { return .success(MeteorScorer(javaPath: java, jarPath: jar)) }
        }
        var searched: [String] = []
        for directory in directories where !searched.contains(directory) { searched.append(directory) }
        return .failure(.noJar(searched: Array(searched.prefix(3))))
    }

    static func findJava(_ environment: [String: String]) -> String? {
        var candidates: [String] = []
        if let home = environment["JAVA_HOME"], !home.isEmpty { candidates.append(home + "/bin/java") }
        for directory in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            candidates.append(String(directory) + "/java")
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// pycocoevalcap's `_stat` line: the hypothesis loses "|||" and double spaces; newlines would break
    /// the line protocol, so they become spaces.
    static func scoreLine(hypothesis: String, references: [String]) -> String {
        func clean(_ s: String) -> String {
            s.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        }
        let hypothesis = clean(hypothesis).replacingOccurrences(of: "|||", with: "").replacingOccurrences(of: "  ", with: " ")
        return (["SCORE"] + references.map(clean) + [hypothesis]).joined(separator: " ||| ")
    }

    /// Scores tokenised (hypothesis, references) pairs; returns the corpus score and one score per pair.
    public func score(_ items: [(hypothesis: String, references: [String])]) throws -> (corpus: Double, perItem: [Double]) {
        if items.isEmpty { return (0, []) }
        signal(SIGPIPE, SIG_IGN)  // a dead Java must surface as a write error, not kill us

        let process = Process()
        process.executableURL = URL(fileURLWithPath: javaPath)
        process.arguments = ["-jar", "-Xmx2G", (jarPath as NSString).lastPathComponent, "-", "-", "-stdio", "-l", "en", "-norm"]
        process.currentDirectoryURL = URL(fileURLWithPath: (jarPath as NSString).deletingLastPathComponent)
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()

        // Drain stderr continuously so a chatty JVM can never block on a full pipe.
        let errorLog = ErrorLog()
        let errorReader = Thread {
            let data = errors.fileHandleForReading.readDataToEndOfFile()
            errorLog.set(String(decoding: data, as: UTF8.self))
        }
        errorReader.start()

        let writeFailure = ErrorLog()
        let writer = DispatchGroup()
        func writeInBackground(_ lines: [String]) {
            writer.enter()
            Thread {
                defer { writer.leave() }
                do {
                    for line in lines { try input.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8)) }
                } catch {
                    writeFailure.set("writing to METEOR failed: \(error)")
                }
            }.start()
        }

        defer {
            try? input.fileHandleForWriting.close()
            if process.isRunning {
                // Closed stdin ends Meteor's loop; give it a moment, then make sure it is gone.
                let deadline = Date().addingTimeInterval(5)
                while process.isRunning && Date() < deadline { usleep(10_000) }
                if process.isRunning { process.terminate() }
            }
            process.waitUntilExit()
        }

        let reader = LineReader(output.fileHandleForReading)
        func readLine() throws -> String {
            if let line = reader.next() { return line }
            writer.wait()
            throw Failure(description: "METEOR (\(jarPath)) stopped answering: "
                          + (writeFailure.get() ?? firstLine(errorLog.get(waitFor: errorReader, process: process))))
        }

        // Phase 1: one statistics line per SCORE line.
        writeInBackground(items.map { Self.scoreLine(hypothesis: $0.hypothesis, references: $0.references) })
        var stats: [String] = []
        stats.reserveCapacity(items.count)
        for _ in items { stats.append(try readLine().trimmingCharacters(in: .whitespaces)) }
        writer.wait()

        // Phase 2: EVAL over all statistics → one score per item, then the corpus score.
        writeInBackground(["EVAL ||| " + stats.joined(separator: " ||| ")])
        var scores: [Double] = []
        scores.reserveCapacity(items.count)
        for _ in items {
            let line = try readLine()
            guard let value = Double(line.trimmingCharacters(in: .whitespaces)) else {
                throw Failure(description: "METEOR answered \(line.debugDescription) where a score was expected")
            }
            scores.append(value)
        }
        let last = try readLine()
        guard let corpus = Double(last.trimmingCharacters(in: .whitespaces)) else {
            throw Failure(description: "METEOR answered \(last.debugDescription) where the corpus score was expected")
        }
        writer.wait()
        return (corpus, scores)
    }

    private func firstLine(_ text: String?) -> String {
        let line = text?.split(separator: "\n").first.map(String.init) ?? ""
        return line.isEmpty ? "the Java process exited" : line
    }
}

/// A lock-protected optional string shared between threads.
private final class ErrorLog: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String?
    func set(_ s: String) { lock.lock(); if value == nil { value = s }; lock.unlock() }
    func get() -> String? { lock.lock(); defer { lock.unlock() }; return value }
    func get(waitFor thread: Thread, process: Process) -> String? {
        if process.isRunning { process.terminate() }
        let deadline = Date().addingTimeInterval(2)
        while get() == nil && Date() < deadline { usleep(10_000) }
        return get()
    }
}

/// Reads "\n"-terminated UTF-8 lines from a file handle with a large buffer (no per-byte reads).
private final class LineReader {
    private let handle: FileHandle
    private var buffer = [UInt8]()
    private var start = 0
    private var finished = false

    init(_ handle: FileHandle) { self.handle = handle }

    func next() -> String? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 10) {
                let line = String(decoding: buffer[start..<newline], as: UTF8.self)
                start = newline + 1
                if start > 1 << 16 { buffer.removeFirst(start); start = 0 }
                return line
            }
            if finished {
                guard start < buffer.count else { return nil }
                let line = String(decoding: buffer[start...], as: UTF8.self)
                start = buffer.count
                return line
            }
            let chunk = handle.availableData  // blocks until data or EOF
            if chunk.isEmpty { finished = true } else { buffer.append(contentsOf: chunk) }
        }
    }
}
