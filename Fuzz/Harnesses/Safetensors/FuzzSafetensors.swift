// libFuzzer harness: the one safetensors header reader (TensorCore's SafetensorsHeader) through
// each of its users on the same bytes — SafeTensors.parse (model files, `caption predict`), Vision's
// checkpoint reader (`caption import`) and Captioning's FeatureStore (feature files, read from a file
// because it memory-maps; a few rows are then gathered). Errors are fine; crashes are bugs.
import Foundation
import FuzzSupport
import TensorCore
import Captioning
@testable import Vision

private let scratch = scratchFile(named: "features.safetensors")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    _ = try? SafeTensors.parse(bytes, file: "fuzz.safetensors")
    if SafetensorsHeader.hasSignature(bytes) {
        _ = try? CheckpointReader.safetensors(bytes, name: "fuzz.safetensors")
    }
    do {
        try bytes.write(to: scratch)
        let store = try FeatureStore(scratch)
        if store.count > 0 {
            _ = store.features(rows: [0, store.count - 1])
            _ = store.row(of: store.images[0])
        }
    } catch {}
    return 0
}

@main enum Harness {
    static func main() { runLibFuzzer() }
}
