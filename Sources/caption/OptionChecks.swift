import ArgumentParser
import CaptionData
import TensorCore

/// Range and finiteness checks for numeric options, run in each command's `validate()` so a bad number
/// is refused before any work starts, with the option's name in the sentence.
///
/// Numeric options are declared with `parsing: .unconditional`, so `--beam -3` reaches these checks
/// ("--beam must be …, not -3") instead of ArgumentParser reading `-3` as a flag.
enum OptionCheck {
    static func integer(_ value: Int, _ option: String, _ range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            let bounds = range.upperBound == Int.max ? "at least \(range.lowerBound)" : "between \(range.lowerBound) and \(range.upperBound)"
            throw ValidationError("\(option) must be \(bounds), not \(value).")
        }
    }

    /// A finite number above `above` (or at least `atLeast`) and below `below` (or at most `atMost`).
    static func number<T: BinaryFloatingPoint & LosslessStringConvertible>(
        _ value: T, _ option: String, atLeast: T? = nil, above: T? = nil, atMost: T? = nil, below: T? = nil
    ) throws {
        var ok = value.isFinite
        if let atLeast { ok = ok && value >= atLeast }
        if let above { ok = ok && value > above }
        if let atMost { ok = ok && value <= atMost }
        if let below { ok = ok && value < below }
        guard ok else {
            var bounds: [String] = []
            if let atLeast { bounds.append("at least \(text(atLeast))") }
            if let above { bounds.append("above \(text(above))") }
            if let atMost { bounds.append("at most \(text(atMost))") }
            if let below { bounds.append("below \(text(below))") }
            throw ValidationError("\(option) must be a finite number\(bounds.isEmpty ? "" : " " + bounds.joined(separator: " and ")), not \(value).")
        }
    }

    private static func text<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: T) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// Thread counts: at least one, and no more than the kernels' team can hold.
    static func threads(_ value: Int, _ option: String = "--threads") throws {
        try integer(value, option, 1...Threads.maximum)
    }

    /// Beam widths: past this, search time grows with no gain, and a beam wider than a small
    /// vocabulary has no distinct hypotheses left to keep.
    static let maximumBeam = 50
    /// Pixel limits: a decoded image of this many pixels already takes 1.2 GB as float32 RGB.
    static let maximumPixels = 100_000_000
}

/// `--split`: the split a command scores on and draws its samples from. Without it, test, or val
/// (Flickr8k's dev) when the dataset has no test split (a copy whose test split is withheld).
struct SplitOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Split to score on: test, val (Flickr8k's dev; 'dev' also works) or train (default: test, else val).",
                                            valueName: "name"))
    var split: String?

    func validate() throws { _ = try named() }

    private func named() throws -> Split? {
        guard let split else { return nil }
        guard let named = Split(rawValue: split == "dev" ? "val" : split) else {
            throw ValidationError("--split must be test, val (or dev) or train, not '\(split)'.")
        }
        return named
    }

    /// The split to use on `dataset`, checked to hold images before any training or decoding.
    func resolve(_ dataset: CaptionDataset) throws -> Split {
        if let named = try named() {
            guard !dataset.split(named).isEmpty else {
                throw CommandFailure("\(dataset.name) has no \(named.rawValue) images: choose another --split, or add the split's list file.")
            }
            return named
        }
        if !dataset.split(.test).isEmpty { return .test }
        guard !dataset.split(.val).isEmpty else {
            throw CommandFailure("\(dataset.name) has neither test nor val images to score on: add the split list files (train/val/test).")
        }
        print("\(dataset.name) has no test split: scoring on its val split instead")
        return .val
    }
}
