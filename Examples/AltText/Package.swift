// swift-tools-version:6.0
import Foundation
import PackageDescription

// An app that depends on Captioner by path: this checkout, two folders up, or the checkout that
// CAPTIONER_PACKAGE names (the test that builds a copy of this package elsewhere sets it).
// A package depending on a path is named after the path's last folder.
let captioner = ProcessInfo.processInfo.environment["CAPTIONER_PACKAGE"]
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardizedFileURL.path

let package = Package(
    name: "AltText",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: captioner),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        .executableTarget(
            name: "alt-text",
            dependencies: [
                .product(name: "Captioner", package: URL(fileURLWithPath: captioner).lastPathComponent),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Sources/AltText"),
    ]
)
