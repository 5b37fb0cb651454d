import Foundation

/// A pure interpreter of the pickle opcodes torch.save emits (protocols 2–5). It only builds data:
/// globals must be on the allow-list, calls (REDUCE/NEWOBJ) are recognised and replaced by the
/// value torch would have built, and nothing from the file is ever executed.
struct PickleMachine {
    /// Turns a persistent id (BINPERSID) into a value; each checkpoint layout has its own.
    typealias PersistentLoader = (PickleValue) throws -> PickleValue

    let name: String
    let persistentLoad: PersistentLoader?

    init(name: String, persistentLoad: PersistentLoader? = nil) {
        self.name = name
        self.persistentLoad = persistentLoad
    }

    /// Runs the pickle starting at `start` up to its STOP opcode.
    /// - Returns: the unpickled value and the offset just past STOP.
    // Swift 6.3.1 with optimisation (-O, not -Onone) miscompiles this
    // loop: after a POP_MARK, an error thrown later makes the cleanup release a garbage pointer, in
    // about two runs out of three (tools/repro/pickle_optimiser_miscompile.swift; found by
    // CheckpointRobustnessTests). Belt and braces: popToMark avoids the triggering shape, and the
    // loop itself is not optimised. Pickles are small, so this costs little; helpers stay optimised.
    @_optimize(none)
    func load(_ bytes: UnsafeRawBufferPointer, from start: Int = 0) throws -> (PickleValue, end: Int) {
        var reader = ByteCursor(bytes: bytes, position: start, name: name)
        var state = PickleStack(name: name)

        while true {
            let opcode = try reader.byte()
            // Each opcode's result is computed completely before the stack is touched again, so a
            // throwing operand (or one that pops) never interleaves with the push. `depth` is how deep
            // the pushed value nests containers (see PickleStack.maxDepth).
            var push: PickleValue? = nil
            var depth = 0
            switch opcode {
            case 0x80: _ = try reader.byte()                                   // PROTO
            case 0x95: _ = try reader.bytes(8)                                 // FRAME: a length hint only
            case 0x2E: return (try state.pop(), reader.position)               // STOP
            case 0x28: state.marks.append(state.stack.count)                   // MARK
            case 0x30: _ = try state.pop()                                     // POP
            case 0x31: _ = try state.popToMark()                               // POP_MARK
            case 0x32: (push, depth) = try state.topWithDepth()                // DUP
            case 0x4E: push = .pythonNone                                       // NONE
            case 0x88: push = .bool(true)                                      // NEWTRUE
            case 0x89: push = .bool(false)                                     // NEWFALSE
            case 0x4A: push = .int(Int(Int32(bitPattern: try reader.uint32()))) // BININT
            case 0x4B: push = .int(Int(try reader.byte()))                     // BININT1
            case 0x4D: push = .int(Int(try reader.uint16()))                   // BININT2
            case 0x8A: push = Self.long(try reader.bytes(Int(try reader.byte()))) // LONG1
            case 0x8B: push = Self.long(try reader.bytes(try reader.length32())) // LONG4
            case 0x47: push = .float(Double(bitPattern: try reader.uint64BigEndian())) // BINFLOAT
            case 0x8C: push = .string(try reader.utf8(Int(try reader.byte()))) // SHORT_BINUNICODE
            case 0x58: push = .string(try reader.utf8(try reader.length32()))  // BINUNICODE
            case 0x8D: push = .string(try reader.utf8(try reader.length64()))  // BINUNICODE8
            // Python 2 str: torch's legacy pickles use these for ASCII names; read as text.
            case 0x55: push = .string(try reader.latin1(Int(try reader.byte()))) // SHORT_BINSTRING
            case 0x54: push = .string(try reader.latin1(try reader.length32())) // BINSTRING
            case 0x43: push = .bytes(try reader.bytes(Int(try reader.byte()))) // SHORT_BINBYTES
            case 0x42: push = .bytes(try reader.bytes(try reader.length32()))  // BINBYTES
            case 0x8E: push = .bytes(try reader.bytes(try reader.length64()))  // BINBYTES8
            case 0x7D: push = .dict(PickleDict()); depth = 1                   // EMPTY_DICT
            case 0x5D: push = .list(PickleList()); depth = 1                   // EMPTY_LIST
            case 0x29: push = .tuple([]); depth = 1                            // EMPTY_TUPLE
            case 0x74: let (items, d) = try state.popToMark(); depth = try state.nest(items, d); push = .tuple(items) // TUPLE
            case 0x85: let (a, d) = try state.popWithDepth(); depth = try state.nest([a], d); push = .tuple([a]) // TUPLE1
            case 0x86: let (b, db) = try state.popWithDepth(), (a, da) = try state.popWithDepth()
                depth = try state.nest([a, b], max(da, db)); push = .tuple([a, b])                       // TUPLE2
            case 0x87: let (c, dc) = try state.popWithDepth(), (b, db) = try state.popWithDepth(), (a, da) = try state.popWithDepth()
                depth = try state.nest([a, b, c], max(da, db, dc)); push = .tuple([a, b, c])            // TUPLE3
            case 0x6C: let (items, d) = try state.popToMark(); depth = try state.nest(items, d)      // LIST
                let list = PickleList(items); list.depth = depth; push = .list(list)
            case 0x64: let (items, d) = try state.popToMark(); state.push(.dict(PickleDict()), depth: 1); try state.setItems(items, depth: d) // DICT
            case 0x73: let (value, dv) = try state.popWithDepth(), (key, dk) = try state.popWithDepth(); try state.setItems([key, value], depth: max(dk, dv)) // SETITEM
            case 0x75: let (items, d) = try state.popToMark(); try state.setItems(items, depth: d) // SETITEMS
            case 0x61: let (item, d) = try state.popWithDepth(); try state.append([item], depth: d) // APPEND
            case 0x65: let (items, d) = try state.popToMark(); try state.append(items, depth: d) // APPENDS
            case 0x71: try state.memoize(Int(try reader.byte()))               // BINPUT
            case 0x72: try state.memoize(try reader.length32())                // LONG_BINPUT
            case 0x94: let next = state.memo.count; try state.memoize(next)    // MEMOIZE
            case 0x68: try state.recall(Int(try reader.byte()))                // BINGET
            case 0x6A: try state.recall(try reader.length32())                 // LONG_BINGET
            case 0x63:                                                         // GLOBAL "module\nname\n"
                let module = try reader.line(), symbol = try reader.line()
                push = try allowedGlobal(module, symbol)
            case 0x93:                                                         // STACK_GLOBAL
                let symbol = try state.pop(), module = try state.pop()
                guard let m = module.asString, let s = symbol.asString else { throw corrupt("STACK_GLOBAL needs two strings") }
                push = try allowedGlobal(m, s)
            case 0x52, 0x81:                                                   // REDUCE, NEWOBJ
                // What a call builds comes from its arguments, so it nests no deeper than they do.
                let (arguments, d) = try state.popWithDepth(), callable = try state.pop()
                push = try call(callable, arguments)
                depth = d
                if case .dict(let dict)? = push { dict.depth = d }
            case 0x62:                                                         // BUILD
                // The state of an OrderedDict (its _metadata) or a Parameter carries no tensor data.
                _ = try state.pop()
            case 0x51:                                                         // BINPERSID
                let id = try state.pop()
                guard let persistentLoad else { throw corrupt("it refers to external storage but has none") }
                push = try persistentLoad(id)
            default:
                throw corrupt(String(format: "opcode 0x%02x is not one torch.save writes", opcode))
            }
            if let push { state.push(push, depth: depth) }
        }
    }

    private func allowedGlobal(_ module: String, _ symbol: String) throws -> PickleValue {
        guard let allowed = AllowedGlobal(module: module, name: symbol) else {
            throw CheckpointError.disallowedGlobal(name, "\(module).\(symbol)")
        }
        return .global(allowed)
    }

    /// Recognises the allow-listed callables and builds what they would return.
    private func call(_ callable: PickleValue, _ arguments: PickleValue) throws -> PickleValue {
        guard case .global(let function) = callable, let args = arguments.asTuple else {
            throw corrupt("it calls something that is not an allowed global")
        }
        switch function {
        case .orderedDict:
            let dict = PickleDict()
            if let pairs = args.first?.asTuple {
                for pair in pairs {
                    guard let kv = pair.asTuple, kv.count == 2 else { throw corrupt("OrderedDict wants pairs") }
                    dict.set(kv[0], kv[1])
                }
            }
            return .dict(dict)
        case .rebuildTensorV2, .rebuildTensor:
            guard args.count >= 4, case .storage(let storage) = args[0], let offset = args[1].asInt,
                  let shape = try intTuple(args[2]), let strides = try intTuple(args[3]), shape.count == strides.count
            else { throw corrupt("a tensor is described with the wrong arguments") }
            return .tensor(TensorReference(storage: storage, storageOffset: offset, shape: shape, strides: strides))
        case .rebuildParameter, .rebuildParameterWithState:
            guard let data = args.first, case .tensor = data else { throw corrupt("a parameter wraps no tensor") }
            return data
        case .storageType:
            throw corrupt("it calls a storage class directly")
        }
    }

    private func intTuple(_ value: PickleValue) throws -> [Int]? {
        guard let items = value.asTuple else { return nil }
        var result: [Int] = []
        for item in items {
            guard let number = item.asInt, number >= 0 else { return nil }
            result.append(number)
        }
        return result
    }

    private func corrupt(_ detail: String) -> CheckpointError {
        CheckpointError.malformed(name, "its pickle is corrupt (\(detail))")
    }

    /// Python's LONG: little-endian two's complement of any width.
    static func long(_ bytes: [UInt8]) -> PickleValue {
        if bytes.isEmpty { return .int(0) }
        if bytes.count > 8 { return .bigInt(bytes) }
        var value: UInt64 = 0
        for (i, byte) in bytes.enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
        let unusedBits = UInt64(64 - 8 * bytes.count)
        return .int(Int(Int64(bitPattern: value << unusedBits) >> Int64(unusedBits)))  // sign-extend
    }
}

/// The unpickler's stack, MARK positions and memo.
///
/// It also bounds how deeply containers nest. Values are released, and checkpoint dictionaries
/// walked, recursively, so a hostile pickle nesting a million lists (two bytes each) would overflow
/// the thread's stack. Every value's depth is known when it is built (`depths` parallels `stack`;
/// lists and dicts carry their own, since they are filled in place); more than `maxDepth` levels is
/// refused. A list or dict that is already inside another may not grow deeper afterwards (its
/// parents' depths would go stale); pickle fills every container before nesting it, except in
/// self-referencing structures, which no checkpoint holds.
struct PickleStack {
    /// Far above any checkpoint (a state dict of tensors nests about 5 deep, optimizer states 8).
    static let maxDepth = 256

    let name: String
    var stack: [PickleValue] = []
    var depths: [Int] = []
    var marks: [Int] = []
    var memo: [Int: (value: PickleValue, depth: Int)] = [:]

    init(name: String) {
        self.name = name
    }

    /// A value's nesting depth: lists and dicts know theirs, anything else was recorded beside it.
    private static func depth(of value: PickleValue, recorded: Int) -> Int {
        switch value {
        case .list(let list): return list.depth
        case .dict(let dict): return dict.depth
        default: return recorded
        }
    }

    mutating func push(_ value: PickleValue, depth: Int) {
        stack.append(value)
        depths.append(depth)
    }

    mutating func pop() throws -> PickleValue {
        try popWithDepth().0
    }

    mutating func popWithDepth() throws -> (PickleValue, Int) {
        guard let value = stack.popLast(), let depth = depths.popLast() else { throw corrupt("it pops from an empty stack") }
        return (value, Self.depth(of: value, recorded: depth))
    }

    /// The items above the last MARK and the deepest nesting among them.
    mutating func popToMark() throws -> ([PickleValue], Int) {
        guard let mark = marks.popLast(), mark <= stack.count else { throw corrupt("a MARK is missing") }
        // Copied element by element: `Array(stack[mark...])` followed by a removal is the shape of
        // the Swift 6.3.1 miscompile described at `load` (tools/repro/pickle_optimiser_miscompile.swift).
        var items: [PickleValue] = []
        var deepest = 0
        items.reserveCapacity(stack.count - mark)
        for index in mark..<stack.count {
            items.append(stack[index])
            deepest = max(deepest, Self.depth(of: stack[index], recorded: depths[index]))
        }
        stack.removeLast(stack.count - mark)
        depths.removeLast(depths.count - mark)
        return (items, deepest)
    }

    func top() throws -> PickleValue {
        try topWithDepth().0
    }

    func topWithDepth() throws -> (PickleValue, Int) {
        guard let value = stack.last, let depth = depths.last else { throw corrupt("it reads from an empty stack") }
        return (value, Self.depth(of: value, recorded: depth))
    }

    /// The depth of a new container holding `items` (whose deepest is `deepest`); the lists and dicts
    /// among them are now nested.
    func nest(_ items: [PickleValue], _ deepest: Int) throws -> Int {
        guard deepest < Self.maxDepth else { throw corrupt("its containers nest more than \(Self.maxDepth) deep") }
        for item in items {
            switch item {
            case .list(let list): list.nested = true
            case .dict(let dict): dict.nested = true
            default: break
            }
        }
        return deepest + 1
    }

    mutating func memoize(_ index: Int) throws {
        memo[index] = try topWithDepth()
    }

    mutating func recall(_ index: Int) throws {
        guard let entry = memo[index] else { throw corrupt("it refers to memo entry \(index) that was never stored") }
        push(entry.value, depth: entry.depth)
    }

    /// Checks that a list or dict may take items nesting `deepest` deep; returns its new depth.
    private func deepen(_ depth: Int, nested: Bool, by items: [PickleValue], _ deepest: Int) throws -> Int {
        let needed = try nest(items, deepest)
        guard needed > depth else { return depth }
        guard !nested else { throw corrupt("a list or dict grows deeper after it was put inside another") }
        return needed
    }

    func setItems(_ pairs: [PickleValue], depth deepest: Int) throws {
        guard case .dict(let dict) = try top(), pairs.count % 2 == 0 else {
            throw corrupt("SETITEMS targets something that is not a dict")
        }
        let nested = dict.nested
        dict.depth = try deepen(dict.depth, nested: nested, by: pairs, deepest)
        for i in stride(from: 0, to: pairs.count, by: 2) { dict.set(pairs[i], pairs[i + 1]) }
    }

    func append(_ items: [PickleValue], depth deepest: Int) throws {
        guard case .list(let list) = try top() else { throw corrupt("APPENDS targets something that is not a list") }
        let nested = list.nested
        list.depth = try deepen(list.depth, nested: nested, by: items, deepest)
        list.items.append(contentsOf: items)
    }

    private func corrupt(_ detail: String) -> CheckpointError {
        CheckpointError.malformed(name, "its pickle is corrupt (\(detail))")
    }
}

/// Bounds-checked reading; running off the end means the file was cut short.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let name: String

    private mutating func take(_ count: Int) throws -> Int {
        guard count >= 0, position <= bytes.count - count else {
            throw CheckpointError.truncated(name, "data ends in the middle of a pickle")
        }
        defer { position += count }
        return position
    }

    mutating func byte() throws -> UInt8 { bytes[try take(1)] }

    mutating func bytes(_ count: Int) throws -> [UInt8] {
        let start = try take(count)
        return Array(bytes[start..<start + count])
    }

    mutating func uint16() throws -> UInt16 {
        let at = try take(2)
        return UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
    }

    mutating func uint32() throws -> UInt32 {
        let at = try take(4)
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) }
    }

    mutating func uint64() throws -> UInt64 {
        let at = try take(8)
        return (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
    }

    mutating func uint64BigEndian() throws -> UInt64 {
        let at = try take(8)
        return (0..<8).reduce(UInt64(0)) { $0 << 8 | UInt64(bytes[at + $1]) }
    }

    mutating func length32() throws -> Int { Int(try uint32()) }

    mutating func length64() throws -> Int {
        let value = try uint64()
        guard value <= UInt64(bytes.count) else { throw CheckpointError.truncated(name, "a length runs past the end of the file") }
        return Int(value)
    }

    mutating func utf8(_ count: Int) throws -> String {
        String(decoding: try bytes(count), as: UTF8.self)
    }

    mutating func latin1(_ count: Int) throws -> String {
        String(try bytes(count).map { Character(Unicode.Scalar($0)) })
    }

    /// A newline-terminated ASCII line (GLOBAL's operands).
    mutating func line() throws -> String {
        var text: [UInt8] = []
        while true {
            let b = try byte()
            if b == 0x0A { return String(decoding: text, as: UTF8.self) }
            text.append(b)
        }
    }
}
