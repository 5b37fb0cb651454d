// libFuzzer harness: PyTorch checkpoints and safetensors as `caption import` reads them.
// CheckpointReader.read(data:name:) sniffs the first bytes and runs the ZIP reader + pickle machine
// (torch ≥ 1.6), the legacy five-pickle layout (torch < 1.6), or the safetensors header reader, then
// materialises every tensor (strides, offsets, storage bounds). Thrown errors are expected; any
// trap, sanitizer report, hang or huge allocation is a bug.
import Foundation
import FuzzSupport
@testable import Vision

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    do {
        let tensors = try CheckpointReader.read(data: bytes, name: "fuzz.pth")
        for (_, tensor) in tensors.prefix(4) where tensor.elementCount <= 4096 { _ = try tensor.floats() }
    } catch is CheckpointError {
    } catch {
        fatalError("CheckpointReader threw a non-CheckpointError: \(error)")
    }
    // The ZIP reader alone, whatever the first bytes are (the sniffer only lets "PK\3\4" through).
    if let archive = try? ZipArchive(data: bytes, name: "fuzz.zip") {
        for entry in archive.entryNames.prefix(8) { _ = try? archive.contents(of: entry) }
    }
    return 0
}

@main enum Harness {
    static func main() { runLibFuzzer() }
}
