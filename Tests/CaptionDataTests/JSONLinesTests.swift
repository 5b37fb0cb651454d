import CaptionData
import Foundation
import Testing

/// The byte-level JSON-lines fast path must read every line exactly as JSONSerialization does, and
/// leave everything else to it.
@Suite struct JSONLinesTests {
    /// Flattens a parsed object to comparable text: keys sorted, strings and string lists only.
    private func canonical(_ object: [String: Any]) -> String {
        object.keys.sorted().map { key -> String in
            switch object[key] {
            case let text as String: return "\(key)=s:\(Array(text.unicodeScalars).map { String($0.value) })"
            case let list as [Any]: return "\(key)=l:\(list.map { Array(($0 as! String).unicodeScalars).map { String($0.value) } })"
            default: return "\(key)=other"
            }
        }.joined(separator: "|")
    }

    private func fastParse(_ line: String) -> [String: Any]? {
        Array(line.utf8).withUnsafeBufferPointer { FlatObjectParser.parse($0) }
    }

    @Test func fastPathAgreesWithJSONSerialization() throws {
        let lines = [
            #"{"image": "a.jpg", "caption": "a dog runs"}"#,
            #"{"image":"b.jpg","captions":["one","two, with comma","three \"quoted\""]}"#,
            #"  { "image" : "c.jpg" , "captions" : [ ] }  "#,
            #"{"image": "d.jpg", "caption": "tab\there, newline\nthere, slash\/ back\\ \b\f\r"}"#,
            #"{"image": "e.jpg", "caption": "caf\u00e9 \u00C9t\u00e9 \ud83d\ude00 na\u0308ive"}"#,
            #"{"image": "f.jpg", "caption": "raw ünïcödé and emoji 🐕 and 漢字"}"#,
            #"{"image": "g.jpg", "caption": "first", "caption": "last wins"}"#,
            #"{}"#,
            #"{"image": "h.jpg", "caption": ""}"#,
        ]
        for line in lines {
            let fast = try #require(fastParse(line), "fast path refused \(line)")
            let reference = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(canonical(fast) == canonical(reference), "\(line)")
        }
    }

    @Test func otherShapesAreLeftToTheGeneralParser() {
        for line in [
            #"{"image": "a.jpg", "score": 1.5}"#, #"{"image": null}"#, #"{"image": ["a", 3]}"#,
            #"{"a": {"b": "c"}}"#, #"["a"]"#, #"{"a": "b"} trailing"#, #"{"a": "unterminated}"#,
            #"{"a": "bad \x escape"}"#, #"{"a": "lone \udc00 surrogate"}"#, "{\"a\": \"raw\tcontrol\"}",
            #"{"a" "b"}"#, #"{"a": "b",}"#,
        ] {
            #expect(fastParse(line) == nil, "\(line)")
        }
    }

    @Test func readsLinesWithNumbersAndReportsErrorsByLine() throws {
        let text = """
        {"image": "a.jpg", "caption": "fast"}

        {"image": "b.jpg", "caption": "slow path", "score": -1.25}
        {"image": "c.jpg", "captions": ["x", "y"]}
        """
        var seen: [(String, Int)] = []
        try JSONLines.forEachObject(in: Data(text.utf8)) { object, line in
            seen.append((object["image"] as! String, line))
            if line == 3 { #expect(object["score"] as? Double == -1.25) }
        }
        #expect(seen.map(\.0) == ["a.jpg", "b.jpg", "c.jpg"])
        #expect(seen.map(\.1) == [1, 3, 4])

        #expect(throws: JSONLinesError.invalidJSON(line: 2)) {
            try JSONLines.forEachObject(in: Data("{\"a\": \"b\"}\n{\"a\": \n".utf8)) { _, _ in }
        }
        #expect(throws: JSONLinesError.notAnObject(line: 1)) {
            try JSONLines.forEachObject(in: Data("[1, 2]\n".utf8)) { _, _ in }
        }
        #expect(throws: JSONLinesError.notUTF8) {
            try JSONLines.forEachObject(in: Data([0x7B, 0xFF, 0x7D])) { _, _ in }
        }
    }
}
