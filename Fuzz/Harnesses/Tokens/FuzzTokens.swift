// libFuzzer harness: the other caption-file readers — Flickr8k/30k token files
// (<image>#<n>\t<caption>), Flickr30k Kaggle's pipe-separated results.csv, Karpathy's split JSON
// and layout detection — each through TextFile on a
// scratch copy of the input, as `CaptionDataset.load` reads them.
import Foundation
import FuzzSupport
@testable import CaptionData

private let scratch = scratchFile(named: "captions.token.txt")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    do {
        try Data(bytes: data, count: size).write(to: scratch)
        let file = try TextFile(url: scratch)
        _ = file.lineRanges()
        _ = try? file.lines()
        _ = try? FlickrTokenReader.read(file)
        _ = try? PipeCaptionReader.read(file)
        _ = try? KarpathyReader.read(file)
        _ = try? LayoutDetector.detect(file: file)
    } catch is DatasetError {
    } catch {
        fatalError("the caption readers threw a non-DatasetError: \(error)")
    }
    return 0
}

@main enum Harness {
    static func main() { runLibFuzzer() }
}
