import Foundation

/// The bfloat16 copies of weights (and the float32 few-row loop's packed copies), re-blocked into a
/// product's layout (`BlockedWeights`, `PackedForFewRows`), made on
/// first use and kept while the weight lives and is unchanged: a weight's storage `version` moves
/// whenever an optimizer writes it, which makes its copy stale. Entries hold their storage weakly,
/// so a freed model's copies go with it.
final class BFloat16WeightCache: @unchecked Sendable {
    static let shared = BFloat16WeightCache()

    private var insertionsSinceSweep = 0
    private let lock = NSLock()

    private struct Entry {
        weak var storage: TensorStorage?
        var version: UInt64
        let values: UnsafeMutableRawPointer
    }
    private struct Key: Hashable {
        let storage: ObjectIdentifier
        let layout: Int
    }
    private var entries: [Key: Entry] = [:]

    /// `storage`'s values as bfloat16 in a primitive's blocked layout, made again when stale.
    func blocked(_ storage: TensorStorage, layout: WeightLayout) -> UnsafeRawPointer {
        lock.lock()
        defer { lock.unlock() }
        let key = Key(storage: ObjectIdentifier(storage), layout: layout.identity)
        if let entry = entries[key], entry.storage === storage {
            if entry.version != storage.version {
                layout.write(storage.pointer, into: entry.values)
                entries[key]!.version = storage.version
            }
            return UnsafeRawPointer(entry.values)
        }
        // A freed storage's address reused: drop its copy (removed, so the sweep cannot free it again).
        if let stale = entries.removeValue(forKey: key) { free(stale.values) }
        insertionsSinceSweep += 1
        if insertionsSinceSweep >= 64 {
            for (k, e) in entries where e.storage == nil { free(e.values); entries[k] = nil }
            insertionsSinceSweep = 0
        }
        let raw = AlignedMemory.allocate(bytes: layout.bytes)
        layout.write(storage.pointer, into: raw)
        entries[key] = Entry(storage: storage, version: storage.version, values: raw)
        return UnsafeRawPointer(raw)
    }
}
