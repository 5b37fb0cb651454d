// libFuzzer harness: the RFC 4180 reader and the CSV caption reader (Flickr8k Kaggle captions.txt
// and folder + CSV with any header), through TextFile as the loader reads them (the input is
// written to a scratch file; TextFile only reads files). Errors must be DatasetErrors.
import Foundation
import FuzzSupport
@testable import CaptionData

private let scratch = scratchFile(named: "captions.csv")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    do {
        try Data(bytes: data, count: size).write(to: scratch)
        let file = try TextFile(url: scratch)
        for delimiter in [",", "\t", ";"].map({ UInt8(ascii: Unicode.Scalar($0)!) }) {
            if let records = try? CSVParser.records(of: file, delimiter: delimiter) {
                for record in records { precondition(record.line >= 1) }
            }
        }
        for kaggle in [true, false] {
            if let parsed = try? CSVCaptionReader.read(file, requireKaggleHeader: kaggle) {
                _ = try? CaptionGrouping.items(from: parsed.rows, file: file.displayPath)
            }
        }
        _ = try? LayoutDetector.detect(file: file)
    } catch is DatasetError {
    } catch {
        fatalError("the CSV readers threw a non-DatasetError: \(error)")
    }
    return 0
}

@main enum Harness {
    static func main() { runLibFuzzer() }
}
