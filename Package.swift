// swift-tools-version:6.0
import PackageDescription

// One target per layer of the architecture:
//   AtomicFiles    — writing an output through a temporary sibling and a rename (every target's files)
//   CKernels       — the few C loops Swift cannot express (AVX-512 products of a few rows, weight layouts)
//   TensorCore     — tensors, oneDNN kernels, reverse-mode autodiff, safetensors, threads
//   Layers         — Module, Linear/Embedding/Dropout/GRU/LSTM, optimizers, schedules
//   Vision         — image decoding, PyTorch checkpoint reading, CNN encoders
//   CaptionData    — dataset layouts (Flickr8k/30k, Karpathy JSON, CSV), tokens, vocabulary
//   Captioning     — the four decoders, loss, greedy and beam decoding, training, the model file
//   CaptionMetrics — BLEU, ROUGE-L, CIDEr-D, METEOR (coco-caption compatible)
//   Cluster        — training and feature runs shared by the ranks of an MPI job (Open MPI)
//   Reports        — attention figures, HTML reports, multi-configuration comparisons
//   Captioner      — the front door: `try Captioner()`, one call per photo, batched across callers
//   CaptionServer  — the HTTP service (Hummingbird 2) around a Captioner: limits, metrics, web page
//   caption        — the command-line tool
import Foundation

// The kernels' own loops (recurrent cells, softmax, Adam, bfloat16 rounding) use the AVX2 and FMA
// units when the building machine has them (Haswell and later); elsewhere they stay at the baseline ISA.
// The package is always built on the machine that runs it (`make`), so this never ships a binary
// to a CPU it cannot run on.
let hostHasAVX2: Bool = {
    #if arch(x86_64) && os(Linux)
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
    let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
    let words = Set(flags.split(separator: " "))
    return ["avx2", "fma", "bmi2", "movbe"].allSatisfy { words.contains(Substring($0)) }
    #else
    return false
    #endif
}()
let optimised: [SwiftSetting] = [.unsafeFlags(["-wmo"] + (hostHasAVX2 ? ["-target-cpu", "haswell"] : []),
                                              .when(configuration: .release))]

let package = Package(
    name: "Captioner",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Captioner", targets: ["Captioner"]),
        .library(name: "TensorCore", targets: ["TensorCore"]),
        .library(name: "Layers", targets: ["Layers"]),
        .library(name: "Vision", targets: ["Vision"]),
        .library(name: "CaptionMetrics", targets: ["CaptionMetrics"]),
        .library(name: "CaptionData", targets: ["CaptionData"]),
        .library(name: "Captioning", targets: ["Captioning"]),
        .library(name: "Reports", targets: ["Reports"]),
        .library(name: "CaptionServer", targets: ["CaptionServer"]),
        .executable(name: "caption", targets: ["caption"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // `make docs`: swift package generate-documentation --target Captioner
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG"),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG"),
        // Open MPI (libopenmpi-dev), found through pkg-config; without it the shim reports no MPI and
        // everything runs as one process.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "CKernels", path: "Sources/CKernels", cSettings: [.unsafeFlags(["-O3"], .when(configuration: .release))]),
        .target(name: "AtomicFiles", swiftSettings: optimised),
        .target(name: "TensorCore", dependencies: ["AtomicFiles", "CDNNL", "CMalloc", "CKernels"], swiftSettings: optimised),
        .target(name: "Layers", dependencies: ["TensorCore"], swiftSettings: optimised),
        .target(name: "Vision", dependencies: ["AtomicFiles", "TensorCore", "CDNNL", "CTurboJPEG", "CPNG"], swiftSettings: optimised),
        .target(name: "CaptionMetrics", swiftSettings: optimised),
        .target(name: "CaptionData", dependencies: ["AtomicFiles", "CPNG"], swiftSettings: optimised),
        .target(name: "Captioning", dependencies: ["AtomicFiles", "TensorCore", "Layers", "CaptionData", "CaptionMetrics"],
                swiftSettings: optimised),
        .target(name: "Cluster", dependencies: ["CMPI", "Captioning"], swiftSettings: optimised),
        .target(name: "Reports", dependencies: ["AtomicFiles", "Captioning", "CaptionData", "CaptionMetrics", "Vision", "TensorCore"],
                swiftSettings: optimised),
        // The shipped captioner and its encoder's weights travel with the library as resources.
        .target(name: "Captioner", dependencies: ["TensorCore", "Vision", "Captioning", .product(name: "Logging", package: "swift-log")],
                exclude: ["Resources/README.md"],
                resources: [.copy("Resources/captioner-flickr8k.safetensors"), .copy("Resources/efficientnet-lite2.safetensors"),
                            .copy("Resources/EfficientNet-Lite2-NOTICE.txt")],
                swiftSettings: optimised),
        .target(
            name: "CaptionServer",
            dependencies: [
                "Captioner", "TensorCore", "Vision", "Captioning",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: optimised),
        .executableTarget(
            name: "caption",
            dependencies: [
                "AtomicFiles", "CKernels", "TensorCore", "Layers", "Vision", "CaptionMetrics", "CaptionData", "Captioning", "Reports",
                "Captioner", "CaptionServer", "Cluster",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: optimised),
        .target(name: "TestSupport", dependencies: ["CaptionData", "Captioner", "Captioning", "TensorCore", "Vision"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorCoreTests", dependencies: ["AtomicFiles", "TensorCore", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "TensorCore", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "VisionTests", dependencies: ["Vision", "TensorCore", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "CaptionMetricsTests", dependencies: ["CaptionMetrics", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "CaptioningTests", dependencies: ["Captioning", "CaptionData", "Layers", "TensorCore", "TestSupport", "Vision"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Captioning", "CaptionData", "TensorCore", "TestSupport"]),
        .testTarget(name: "CaptionDataTests", dependencies: ["AtomicFiles", "CaptionData", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        // Runs the built `caption` executable as users do (exit status, messages, outputs left intact).
        .testTarget(name: "CLITests", dependencies: ["caption", "Captioning", "TensorCore", "TestSupport"]),
        .testTarget(name: "CaptionerTests", dependencies: ["Captioner", "Captioning", "TensorCore", "TestSupport", "Vision"]),
        .testTarget(name: "CaptionServerTests",
                    dependencies: ["CaptionData", "Captioner", "CaptionServer", "Captioning", "Layers", "TensorCore", "TestSupport", "Vision",
                                   .product(name: "Hummingbird", package: "hummingbird"),
                                   .product(name: "HummingbirdTesting", package: "hummingbird"),
                                   .product(name: "Logging", package: "swift-log")],
                    resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v5]
)

// Coverage-guided fuzzing (libFuzzer) of the parsers that read untrusted bytes: one executable per
// harness in Fuzz/Harnesses/<name>/, added only when CAPTIONER_FUZZ is set, so the normal build and
// `make test` never see them. Built and run by scripts/fuzz (see docs/fuzzing.md):
//   CAPTIONER_FUZZ=1 swift build -c release --scratch-path .build-fuzz \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing --product FuzzCSV
if ProcessInfo.processInfo.environment["CAPTIONER_FUZZ"] != nil {
    let harnesses: [(name: String, dependencies: [Target.Dependency])] = [
        ("Checkpoint", ["Vision"]),
        ("Pickle", ["Vision"]),
        ("Safetensors", ["TensorCore", "Vision", "Captioning"]),
        ("Image", ["Vision"]),
        ("CSV", ["CaptionData"]),
        ("Tokens", ["CaptionData"]),
        ("Multipart", ["CaptionServer"]),
    ]
    // libFuzzer's driver, started from each harness's @main (SwiftPM links the entry point itself).
    package.targets.append(.target(name: "FuzzDriver", path: "Fuzz/Driver"))
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["FuzzDriver"], path: "Fuzz/Support"))
    for harness in harnesses {
        package.targets.append(.executableTarget(name: "Fuzz\(harness.name)", dependencies: harness.dependencies + ["FuzzSupport"],
                                                 path: "Fuzz/Harnesses/\(harness.name)",
                                                 swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
        package.products.append(.executable(name: "Fuzz\(harness.name)", targets: ["Fuzz\(harness.name)"]))
    }
}
