import Captioner
import Foundation
import Hummingbird

/// Alt-text for uploaded images, inside a Hummingbird server, with no Python sidecar:
///
///     alt-text serve [PORT]        POST an image to /alt-text, get {"alt": "…", "score": …}
///     alt-text caption FILE…       print each file's alt-text
@main
struct AltText {
    static func main() async throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        // One captioner for the whole server: concurrent requests are batched through its model.
        let captioner = try Captioner()
        switch arguments.first {
        case "caption":
            for path in arguments.dropFirst() {
                print(try await captioner.caption(imageAt: URL(fileURLWithPath: path)).text)
            }
        case "serve":
            try await serve(captioner, port: arguments.count > 1 ? Int(arguments[1]) ?? 8080 : 8080)
        default:
            print("usage: alt-text serve [PORT] | alt-text caption FILE...")
        }
    }

    static func serve(_ captioner: Captioner, port: Int) async throws {
        let router = Router()
        router.post("/alt-text") { request, _ -> AltTextReply in
            let body = try await request.body.collect(upTo: 10 << 20)
            do {
                let caption = try await captioner.caption(imageData: Data(buffer: body), name: "The uploaded image")
                return AltTextReply(alt: caption.text, score: caption.score)
            } catch let error as CaptionerError where [.unreadableImage, .tooManyPixels].contains(error.kind) {
                throw HTTPError(.unprocessableContent, message: error.description)
            }
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                              onServerRunning: { channel in
                                  // The bound port (it differs from PORT when that is 0), for whoever started us.
                                  FileHandle.standardOutput.write(Data("listening on \(channel.localAddress?.port ?? port)\n".utf8))
                              })
        try await app.runService()
    }
}

struct AltTextReply: ResponseEncodable {
    let alt: String
    let score: Float
}
