import AtomicFiles
import Foundation
import Testing
import TestSupport
import CaptionData

@Suite struct VocabularyTests {
    let captions = [
        "A dog runs.", "A dog sits.", "A cat sits.", "The dog, the cat.", "a bird",
    ]

    @Test func specialsThenCountDescendingThenAlphabetical() {
        // a:4 dog:3 cat:2 sits:2 the:2 runs:1 bird:1
        let vocabulary = Vocabulary(trainingCaptions: captions, minCount: 2)
        #expect(vocabulary.tokens == ["<pad>", "<start>", "<end>", "<unk>", "a", "dog", "cat", "sits", "the"])
        #expect(Vocabulary(trainingCaptions: captions, minCount: 1).tokens.suffix(2) == ["bird", "runs"])
    }

    @Test func defaultMinCountIsFive() {
        let vocabulary = Vocabulary(trainingCaptions: Array(repeating: "red circle", count: 5) + Array(repeating: "blue", count: 4))
        #expect(vocabulary.tokens == ["<pad>", "<start>", "<end>", "<unk>", "circle", "red"])
    }

    @Test func onlyTrainingCaptionsOfADatasetCount() throws {
        let dataset = CaptionDataset(name: "t", layout: .folderCSV, imagesDirectory: URL(fileURLWithPath: "/"), items: [
            ImageCaptions(image: "a", split: .train, captions: ["red circle", "red square"]),
            ImageCaptions(image: "b", split: .val, captions: ["green green green"]),
            ImageCaptions(image: "c", split: nil, captions: ["blue blue blue"]),
        ])
        let vocabulary = try Vocabulary(trainingSplitOf: dataset, minCount: 1)
        #expect(vocabulary.tokens == ["<pad>", "<start>", "<end>", "<unk>", "red", "circle", "square"])
        let untrained = CaptionDataset(name: "u", layout: .folderCSV, imagesDirectory: URL(fileURLWithPath: "/"),
                                       items: [ImageCaptions(image: "c", split: nil, captions: ["x"])])
        #expect(throws: DatasetError.self) { try Vocabulary(trainingSplitOf: untrained) }
    }

    @Test func encodeWrapsCutsAndMapsUnknownWords() {
        let vocabulary = Vocabulary(trainingCaptions: captions, minCount: 2)
        #expect(vocabulary.encode(["a", "dog", "flies"]) == [1, 4, 5, 3, 2])
        #expect(vocabulary.encode(["a", "dog", "cat", "the"], maxWords: 2) == [1, 4, 5, 2])
        #expect(vocabulary.encode([]) == [1, 2])
        #expect(vocabulary.encode(Array(repeating: "a", count: 40)).count == 32)
        // Control tokens written as words must not end or pad a caption.
        #expect(vocabulary.encode(["<end>", "<pad>"]) == [1, 3, 3, 2])
    }

    @Test func decodeStopsAtEndAndSkipsStartAndPad() {
        let vocabulary = Vocabulary(trainingCaptions: captions, minCount: 2)
        #expect(vocabulary.decode([1, 4, 0, 5, 3, 2, 6, 7]) == ["a", "dog", "<unk>"])
        #expect(vocabulary.decode([4, 999, -1]) == ["a", "<unk>", "<unk>"])
        #expect(vocabulary.decode(vocabulary.encode(["the", "cat", "sits"])) == ["the", "cat", "sits"])
    }

    @Test func initFromTokensValidatesSpecialsFirst() throws {
        let vocabulary = try Vocabulary(tokens: ["<pad>", "<start>", "<end>", "<unk>", "x"])
        #expect(vocabulary.count == 5)
        #expect(vocabulary.id(of: "x") == 4)
        let swapped = #expect(throws: DatasetError.self) { try Vocabulary(tokens: ["<pad>", "<end>", "<start>", "<unk>"]) }
        #expect(swapped?.description == "token 1 (\"<end>\") should be <start> — put <pad>, <start>, <end>, <unk> first, in that order")
        #expect(throws: DatasetError.self) { try Vocabulary(tokens: ["<pad>", "<start>"]) }
        let duplicate = #expect(throws: DatasetError.self) { try Vocabulary(tokens: SpecialToken.names + ["x", "y", "x"]) }
        #expect(duplicate?.description == "token 6 (\"x\") appears twice — keep each token once")
        #expect(throws: DatasetError.self) { try Vocabulary(tokens: SpecialToken.names + ["two words"]) }
    }

    @Test func vocabFileRoundTripsAtomically() throws {
        let dir = try TemporaryDirectory()
        let url = dir.url.appendingPathComponent("vocab.txt")
        let vocabulary = Vocabulary(trainingCaptions: captions, minCount: 1)
        try vocabulary.write(to: url)
        #expect(try String(contentsOf: url, encoding: .utf8) == vocabulary.tokens.joined(separator: "\n") + "\n")
        #expect(try Vocabulary.read(from: url) == vocabulary)
        // Overwriting leaves no temporary files behind.
        try Vocabulary(trainingCaptions: ["z z z z z"]).write(to: url)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["vocab.txt"])
        #expect(try Vocabulary.read(from: url).tokens.last == "z")
    }

    @Test func vocabFileErrorsNameTheLine() throws {
        let dir = try TemporaryDirectory()
        let bad = try dir.write("<pad>\n<start>\n<end>\n<unk>\ncat\n\ndog\n", to: "vocab.txt")
        let error = #expect(throws: DatasetError.self) { try Vocabulary.read(from: bad) }
        #expect(error?.description == "\(bad.path):6: token \"\" (id 5) is empty — remove the empty token")
        let wrongStart = try dir.write("<start>\n<pad>\n", to: "wrong.txt")
        let startError = #expect(throws: DatasetError.self) { try Vocabulary.read(from: wrongStart) }
        #expect(startError?.description.hasPrefix("\(wrongStart.path):1: token \"<start>\" (id 0) should be <pad>") == true)
        let empty = try dir.write("", to: "empty.txt")
        #expect(throws: DatasetError.self) { try Vocabulary.read(from: empty) }
    }

    @Test func writingToAnUnwritablePlaceFailsCleanly() {
        let vocabulary = Vocabulary(trainingCaptions: captions)
        let error = #expect(throws: AtomicFileError.self) {
            try vocabulary.write(to: URL(fileURLWithPath: "/nonexistent-dir-for-test/vocab.txt"))
        }
        #expect(error?.description.hasPrefix("cannot write /nonexistent-dir-for-test/vocab.txt (No such file or directory)") == true)
    }
}
