// libFuzzer harness: the pickle machine on its own (every opcode torch.save emits, memo, marks,
// the global allow-list, REDUCE/NEWOBJ recognition, persistent ids), then the checkpoint's
// dictionary walk and tensor materialisation against a small fake storage. The input is a bare
// pickle (as in data.pkl). Nothing in the input may ever be executed or crash the reader.
import Foundation
import FuzzSupport
@testable import Vision

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    // TorchZipCheckpoint's persistent loader: ('storage', storage_type, key, location, numel).
    let machine = PickleMachine(name: "fuzz.pkl") { id in
        guard let fields = id.asTuple, fields.count >= 5, fields[0].asString == "storage",
              case .global(.storageType(let dtype)) = fields[1], let key = fields[2].asString
        else { throw CheckpointError("bad persistent id") }
        return .storage(StorageReference(key: key, dtype: dtype, elementOffset: fields[4].asInt ?? 0))
    }
    do {
        var position = 0
        // Up to three pickles in a row, as the legacy layout reads them.
        for _ in 0..<3 where position < size {
            let (root, end) = try machine.load(bytes, from: position)
            position = end
            let storage = Data(repeating: 0x3F, count: 256)
            let checkpoint = UnpickledCheckpoint(root: root) { _ in storage }
            _ = try? checkpoint.tensors(fileName: "fuzz.pkl")
        }
    } catch is CheckpointError {
    } catch {
        fatalError("the pickle machine threw a non-CheckpointError: \(error)")
    }
    return 0
}

@main enum Harness {
    static func main() { runLibFuzzer() }
}
