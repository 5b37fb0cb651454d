import Captioning
import Foundation

/// A one-line progress bar on standard error: fraction done, rate, ETA and a caller's note.
/// Redraws at most five times a second; prints plain lines when standard error is not a terminal.
final class ProgressBar {
    let label: String
    let total: Int
    let unit: String
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let interactive = isatty(STDERR_FILENO) != 0

    init(_ label: String, total: Int, unit: String) {
        self.label = label
        self.total = max(total, 1)
        self.unit = unit
    }

    /// `done` units finished of `total`; `rate` overrides the measured units per second.
    func update(_ done: Int, rate: Double? = nil, note: String = "", force: Bool = false) {
        let now = Date()
        guard force || done >= total || now.timeIntervalSince(lastDraw) >= (interactive ? 0.2 : 10) else { return }
        lastDraw = now
        let elapsed = now.timeIntervalSince(start)
        let speed = rate ?? Double(done) / max(elapsed, 1e-9)
        let fraction = min(1, Double(done) / Double(total))
        let eta = fraction > 0 ? elapsed / fraction - elapsed : .nan
        let width = 24
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = "\(label) \(bar) \(String(format: "%3.0f%%", fraction * 100)) \(done)/\(total) "
            + "\(String(format: "%.1f", speed)) \(unit)/s ETA \(Self.clock(eta))\(note.isEmpty ? "" : "  " + note)"
        FileHandle.standardError.write(Data((interactive ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    func finish() {
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "--:--" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%02d:%02d", s / 60, s % 60)
    }
}

/// One progress bar per training epoch, with loss and tokens/s: what `train` and `compare` show.
final class EpochProgressBars {
    private var bar: ProgressBar?
    private var epoch = 0

    func update(_ progress: TrainingProgress) {
        if progress.epoch != epoch {
            bar?.finish()
            bar = ProgressBar("epoch \(progress.epoch)/\(progress.epochs)", total: progress.steps, unit: "steps")
            epoch = progress.epoch
        }
        bar?.update(progress.step, rate: Double(progress.step) / max(progress.epochSeconds, 1e-9),
                    note: String(format: "loss %.3f  %.0f tokens/s", progress.loss, progress.tokensPerSecond)
                        + (progress.reward.map { String(format: "  reward %.3f  baseline %.3f", $0, progress.baseline ?? 0) } ?? ""))
    }

    /// Ends the current bar's line; the next update starts a new one.
    func finish() {
        bar?.finish()
        bar = nil
        epoch = 0
    }
}
