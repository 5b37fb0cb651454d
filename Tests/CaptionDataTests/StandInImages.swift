import Foundation
import TestSupport

/// Dataset layouts in a test's `TemporaryDirectory` (TestSupport).
extension TemporaryDirectory {
    /// Creates tiny stand-in image files (a few bytes; the loader only checks they exist).
    func touchImages(_ names: [String], in folder: String) throws {
        for name in names { try write("not really a jpeg", to: folder + "/" + name) }
    }
}
