/// The ids every vocabulary starts with (SPEC row 2), in this order. `Vocabulary` writes them first;
/// the decoders, the loss and the searches read them from here.
public enum SpecialToken {
    public static let pad: Int32 = 0, start: Int32 = 1, end: Int32 = 2, unknown: Int32 = 3
    /// Their text in `vocab.txt`, index = id.
    public static let names = ["<pad>", "<start>", "<end>", "<unk>"]
    /// The first id a decoder may emit: <pad> and <start> are never targets.
    public static let firstEmittable = start + 1
}
