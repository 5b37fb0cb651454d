import Foundation

// Running `caption` is TestSupport's runCaption / RunningCaption (Tests/TestSupport/RunCaption.swift).

/// Polls until `condition` holds; false if `seconds` pass first.
func eventually(seconds: Double = 60, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline { return false }
        usleep(2_000)
    }
    return true
}
