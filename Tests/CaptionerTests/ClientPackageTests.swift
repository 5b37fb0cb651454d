import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TestSupport

/// A package that depends on this one by path (a copy of Examples/AltText, built from its own
/// folder) gets `Captioner()` with no set-up step: its captions are those `caption predict` prints,
/// and its Hummingbird route answers uploads with them.
@Suite(.serialized) struct ClientPackageTests {
    static let work = CaptionerTests.repository.appendingPathComponent(".build/client-package")

    @Test func aPackageDependingOnThisOneCaptionsAndServesAltText() async throws {
        let source = Self.work.appendingPathComponent("AltText"), scratch = Self.work.appendingPathComponent("build")
        try? FileManager.default.removeItem(at: source)
        try FileManager.default.createDirectory(at: Self.work, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: CaptionerTests.repository.appendingPathComponent("Examples/AltText"), to: source)
        let swift = URL(fileURLWithPath: "/usr/bin/env")
        let build = try await runCaptionOffPool(["swift", "build", "-c", "release", "--package-path", source.path, "--scratch-path", scratch.path],
                                   environment: ["CAPTIONER_PACKAGE": CaptionerTests.repository.path], timeout: .seconds(2_400), executable: swift)
        try #require(build.status == 0, "the client package builds: \(build.stdout.suffix(3_000)) \(build.stderr.suffix(3_000))")
        let altText = scratch.appendingPathComponent("release/alt-text")

        let photos = ShippedCaptionerTests.photos.map(\.path)
        let library = try await runCaptionOffPool(["caption"] + photos, executable: altText)
        #expect(library.status == 0, "\(library.stderr)")
        let predicted = try await runCaptionOffPool(["predict"] + photos)
        #expect(predicted.status == 0, "\(predicted.stderr)")
        let printed = predicted.stdout.split(separator: "\n").map { String($0.split(separator: "\t")[1]) }
        #expect(library.stdout.split(separator: "\n").map(String.init) == printed, "the client's captions are caption predict's")

        // The route: an upload gets its alt-text; garbage gets the library's sentence with 422.
        let server = Process(), output = Pipe()
        server.executableURL = altText
        server.arguments = ["serve", "0"]
        server.standardOutput = output
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        // Read on a thread of its own: the wait spans the model's loading, and must not hold a thread
        // of the cooperative pool that other tests' servers need.
        let announced = await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            Thread.detachNewThread {
                var text = ""
                while !text.split(separator: "\n").contains(where: { $0.hasPrefix("listening on ") }) {
                    let chunk = output.fileHandleForReading.availableData
                    if chunk.isEmpty { break }   // the server exited
                    text += String(decoding: chunk, as: UTF8.self)
                }
                continuation.resume(returning: text)
            }
        }
        let port = try #require(announced.split(separator: "\n").first { $0.hasPrefix("listening on ") }.flatMap { Int($0.dropFirst("listening on ".count)) },
                                "the server says where it listens: \(announced)")
        func post(_ body: Data) async throws -> (Int, [String: Any]) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/alt-text")!)
            request.httpMethod = "POST"
            request.httpBody = body
            let (data, response) = try await URLSession.shared.data(for: request)
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, object)
        }
        let (status, reply) = try await post(try Data(contentsOf: URL(fileURLWithPath: photos[1])))
        #expect(status == 200 && reply["alt"] as? String == printed[1], "\(reply)")
        let (refused, error) = try await post(Data("not an image".utf8))
        #expect(refused == 422, "\(error)")
        #expect((error["error"] as? [String: Any])?["message"] as? String == "The uploaded image is not a JPEG or PNG image (its first bytes match neither format).",
                "\(error)")
    }
}
