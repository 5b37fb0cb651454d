// Reproducer: Swift 6.3.1 miscompiles this with optimisation; plain safe Swift that segfaults.
//   swiftc -Onone tools/repro/pickle_optimiser_miscompile.swift -o /tmp/r && /tmp/r   # prints ERR ... 3 times
//   swiftc -O tools/repro/pickle_optimiser_miscompile.swift -o /tmp/r && /tmp/r       # segfaults in ~2 of 3 runs
//   Copying the slice element by element
//   instead of `Array(stack[mark...])` made 30 of 30 runs clean.
// Pattern: a value stack in a struct; `Array(stack[mark...])` + `stack.removeSubrange(mark...)`
// in one mutating method, then an error thrown from another mutating method; the cleanup releases
// a garbage pointer. Found by the Vision pickle reader's fuzz tests (Sources/Vision/Checkpoint/
// PickleMachine.swift avoids the shape and also runs its interpreter loop with @_optimize(none)).
final class Dict { var entries: [(Value, Value)] = [] }
enum Value {
    case int(Int)
    case string(String)
    case dict(Dict)
}
struct Failure: Error { let detail: String }

struct Stack {
    var stack: [Value] = []
    var marks: [Int] = []
    var memo: [Int: Value] = [:]

    mutating func pop() throws -> Value {
        guard let value = stack.popLast() else { throw Failure(detail: "empty") }
        return value
    }
    mutating func popToMark() throws -> [Value] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw Failure(detail: "mark") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }
    mutating func recall(_ index: Int) throws {
        guard let value = memo[index] else { throw Failure(detail: "memo \(index)") }
        stack.append(value)
    }
}

struct Cursor {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    mutating func byte() throws -> UInt8 {
        guard position < bytes.count else { throw Failure(detail: "eof") }
        defer { position += 1 }
        return bytes[position]
    }
}

func load(_ bytes: UnsafeRawBufferPointer) throws -> Value {
    var reader = Cursor(bytes: bytes, position: 0)
    var state = Stack()
    while true {
        let opcode = try reader.byte()
        var push: Value? = nil
        switch opcode {
        case 0x2E: return try state.pop()
        case 0x28: let depth = state.stack.count; state.marks.append(depth)
        case 0x31: _ = try state.popToMark()
        case 0x58: push = .string("x")
        case 0x7D: push = .dict(Dict())
        case 0x68: try state.recall(Int(try reader.byte()))
        default: throw Failure(detail: "opcode")
        }
        if let push { state.stack.append(push) }
    }
}

let program: [UInt8] = [0x7D, 0x28, 0x58, 0x31, 0x68, 0x07]
for _ in 0..<3 {
    do { _ = try program.withUnsafeBytes { try load($0) } } catch { print("ERR \(error)") }
}
