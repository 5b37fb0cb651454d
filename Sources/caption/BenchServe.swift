import CaptionData
import CaptionServer
import Captioning
import Foundation
import Logging
import Synchronization
import Vision

extension Bench {
    /// What one client of `caption serve` waits for: an image POSTed to /v1/captions on a local port,
    /// the reply read back (upload, decoding, the encoder, beam 3, the JSON), one request at a time
    /// on a new connection, with the shipped captioner and the server's defaults.
    static func serveWorkloads(seconds: Double) -> [Workload] {
        let server = Lazy { () -> LocalServer? in
            do { return try LocalServer() } catch {
                FileHandle.standardError.write(Data("bench: serve_one_client_ms skipped: \(error)\n".utf8))
                return nil
            }
        }
        return [
            Workload(key: "serve_one_client_ms", unit: "ms") {
                guard let server = server.get else { return .nan }
                return 1000 / rate(seconds: seconds) {
                    do { try server.caption() } catch { fatalError("bench: the local server failed: \(error)") }
                }
            },
        ]
    }
}

/// The shipped captioner served on a free port of 127.0.0.1 for the life of the process, and the
/// smallest HTTP/1.1 client that can ask it for a caption.
final class LocalServer: Sendable {
    let port: Int
    /// A 224 × 224 PNG (a colour gradient with a square in it): the bench ships no photographs.
    let image: Data

    init() throws {
        let modelPath = try ShippedModel.path(nil)
        let model = try CaptionModel.load(URL(fileURLWithPath: modelPath))
        let encoder = try ConvNetEncoder.loadFor(model, modelPath: modelPath, weights: nil)
        var configuration = ServerConfiguration()
        configuration.port = 0
        var logger = Logger(label: "caption.bench.serve")
        logger.logLevel = .warning
        let server = try CaptionServer(model: model, encoder: encoder, configuration: configuration, logger: logger)
        let bound = Mutex<Int?>(nil)
        let running = DispatchSemaphore(value: 0)
        Task.detached {
            try await server.run(onServerRunning: { channel in
                bound.withLock { $0 = channel.localAddress?.port }
                running.signal()
            })
        }
        guard running.wait(timeout: .now() + 60) == .success, let port = bound.withLock({ $0 }) else {
            throw CommandFailure("the local server did not start within 60 s")
        }
        self.port = port
        var pixels = [UInt8](repeating: 0, count: 224 * 224 * 3)
        for y in 0..<224 {
            for x in 0..<224 {
                let inSquare = (80..<150).contains(x) && (60..<130).contains(y)
                let p = (y * 224 + x) * 3
                (pixels[p], pixels[p + 1], pixels[p + 2]) = inSquare ? (200, 30, 30) : (UInt8(x), UInt8(y), 180)
            }
        }
        image = try PNGEncoder.encode(CaptionData.RGBImage(width: 224, height: 224, pixels: pixels))
    }

    /// POSTs the image and reads the whole reply; throws unless it is 200.
    func caption() throws {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw CommandFailure("socket() failed (errno \(errno))") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw CommandFailure("connect to 127.0.0.1:\(port) failed (errno \(errno))") }
        let head = "POST /v1/captions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: \(image.count)\r\nConnection: close\r\n\r\n"
        for chunk in [Data(head.utf8), image] {
            try chunk.withUnsafeBytes { bytes in
                var sent = 0
                while sent < bytes.count {
                    let n = send(socket, bytes.baseAddress! + sent, bytes.count - sent, 0)
                    guard n > 0 else { throw CommandFailure("send failed (errno \(errno))") }
                    sent += n
                }
            }
        }
        var reply = Data()
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {   // the server closes the connection after the reply (Connection: close)
            let n = recv(socket, &buffer, buffer.count, 0)
            if n <= 0 { break }
            reply.append(contentsOf: buffer[0..<n])
        }
        guard reply.starts(with: Data("HTTP/1.1 200".utf8)) else {
            throw CommandFailure("the local server answered \(String(decoding: reply.prefix(200), as: UTF8.self))")
        }
    }
}
