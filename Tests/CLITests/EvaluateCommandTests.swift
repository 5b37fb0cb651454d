import Foundation
import Testing
import TestSupport

/// `caption evaluate` run as users run it: the built executable, its exit status, its one-line errors,
/// and the outputs it must leave alone when it fails.
@Suite struct EvaluateCommandTests {
    let temporary: TemporaryDirectory
    let dir: URL

    init() throws {
        temporary = try TemporaryDirectory("cli-evaluate")
        dir = temporary.url
        try write("references.jsonl", """
            {"image": "a.jpg", "captions": ["a red circle above a blue square", "there is a red circle"], "split": "test"}
            {"image": "b.jpg", "captions": ["two green stars", "a pair of green stars"], "split": "test"}
            {"image": "c.jpg", "captions": ["a yellow cross"], "split": "train"}
            """)
        try write("predictions.jsonl", """
            {"image": "a.jpg", "caption": "a red circle above a square"}
            {"image": "b.jpg", "caption": "two green stars", "score": -1.5}
            """)
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    @Test func scoresAsJSONWithCounts() throws {
        let run = try runCaption(["evaluate", "--references", path("references.jsonl"), "--split", "test",
                                  "--predictions", path("predictions.jsonl"), "--no-meteor", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["images_scored"] as? Int == 2)
        for key in ["BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr-D"] {
            let value = try #require(object[key] as? Double, "\(key) missing")
            #expect(value > 0 && value <= 10)
        }
        #expect(object["METEOR"] is NSNull)
    }

    @Test func perImageScoresAreWrittenOnePerLine() throws {
        let run = try runCaption(["evaluate", "--references", path("references.jsonl"), "--split", "test",
                                  "--predictions", path("predictions.jsonl"), "--no-meteor", "--per-image", path("per-image.jsonl")])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = try String(contentsOf: dir.appendingPathComponent("per-image.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        #expect(lines.count == 2)
        #expect(run.stdout.contains("CIDEr-D"))
    }

    /// Each bad input: exit status 1, one sentence naming the file (and line), nothing on stdout.
    @Test(arguments: [
        ("predictions.jsonl", "{\"image\": \"a.jpg\", \"caption\": \"fine\"}\n{\"image\": \"b.jpg\", \"caption\": ", "bad.jsonl line 2: is not valid JSON"),
        ("predictions.jsonl", "{\"image\": \"a.jpg\", \"text\": \"wrong field\"}\n", "bad.jsonl line 1: expected a string field \"caption\""),
        ("predictions.jsonl", "{\"image\": \"a.jpg\", \"caption\": \"x\"}\n{\"image\": \"a.jpg\", \"caption\": \"y\"}\n",
         "bad.jsonl line 2: image a.jpg already has a prediction on line 1"),
        ("predictions.jsonl", "[\"a.jpg\", \"x\"]\n", "bad.jsonl line 1: is not a JSON object"),
        ("references.jsonl", "{\"image\": \"a.jpg\", \"captions\": [\"ok\", 3]}\n", "bad.jsonl line 1: every entry of \"captions\" must be a string"),
    ])
    func badLinesNameFileAndLine(role: String, text: String, message: String) throws {
        try write("bad.jsonl", text)
        let references = role == "references.jsonl" ? path("bad.jsonl") : path("references.jsonl")
        let predictions = role == "predictions.jsonl" ? path("bad.jsonl") : path("predictions.jsonl")
        let run = try runCaption(["evaluate", "--references", references, "--predictions", predictions, "--no-meteor"])
        #expect(run.status != 0)
        #expect(run.stderr.contains(message), "\(run.stderr)")
        #expect(run.stdout.isEmpty)
    }

    @Test func missingFilesAndUselessSplitsAreRefused() throws {
        let missing = try runCaption(["evaluate", "--references", path("nope.jsonl"), "--predictions", path("predictions.jsonl"), "--no-meteor"])
        #expect(missing.status != 0 && missing.stderr.contains("nope.jsonl: does not exist"), "\(missing.stderr)")

        try write("nosplit.jsonl", "{\"image\": \"a.jpg\", \"captions\": [\"a red circle\"]}\n")
        let split = try runCaption(["evaluate", "--references", path("nosplit.jsonl"), "--split", "test",
                                    "--predictions", path("predictions.jsonl"), "--no-meteor"])
        #expect(split.status != 0 && split.stderr.contains("drop --split"), "\(split.stderr)")

        let both = try runCaption(["evaluate", "--references", path("references.jsonl"), "--no-meteor"])
        #expect(both.status != 0 && both.stderr.contains("--predictions"), "\(both.stderr)")
    }

    /// A failed run must not touch an existing per-image file; a successful one replaces it whole.
    @Test func failuresLeaveExistingOutputsIntact() throws {
        try write("per-image.jsonl", "precious\n")
        try write("bad.jsonl", "{not json}\n")
        let run = try runCaption(["evaluate", "--references", path("references.jsonl"), "--predictions", path("bad.jsonl"),
                                  "--no-meteor", "--per-image", path("per-image.jsonl")])
        #expect(run.status != 0)
        #expect(try String(contentsOf: dir.appendingPathComponent("per-image.jsonl"), encoding: .utf8) == "precious\n")
    }
}
