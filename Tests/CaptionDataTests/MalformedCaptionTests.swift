import Foundation
import Testing
import TestSupport
import CaptionData

/// Every malformed input gives one sentence naming the file and, where there is one, the line.
@Suite struct MalformedCaptionTests {
    /// Loads `text` saved as `name` and returns the error message, recording a failure if it loads.
    private func loadError(_ text: String, named name: String, checkImages: Bool = false) throws -> (String, TemporaryDirectory) {
        let dir = try TemporaryDirectory()
        try dir.write(text, to: name)
        do {
            _ = try CaptionDataset.load(dir.path, checkImages: checkImages)
            Issue.record("\(name) loaded although it is malformed")
            return ("", dir)
        } catch let error as DatasetError {
            return (error.description, dir)
        }
    }

    @Test func tokenLineWithoutTab() throws {
        let (message, dir) = try loadError("a.jpg#0\tfine\na.jpg#1 no tab here\n", named: "Flickr8k.token.txt")
        #expect(message == "\(dir.path("Flickr8k.token.txt")):2: expected 2 tab-separated fields (<image>#<n> and the caption) but found 1 — separate the key and the caption with exactly one tab")
    }

    @Test func tokenLineWithTooManyTabs() throws {
        let (message, dir) = try loadError("a.jpg#0\tfine\n\na.jpg#1\tone\ttwo\n", named: "Flickr8k.token.txt")
        #expect(message.hasPrefix("\(dir.path("Flickr8k.token.txt")):3: expected 2 tab-separated fields"))
        #expect(message.contains("found 3"))
    }

    @Test func tokenKeyWithoutCaptionNumber() throws {
        let (message, dir) = try loadError("a.jpg#0\tfine\nb.jpg\tno number\n", named: "Flickr8k.token.txt")
        #expect(message == "\(dir.path("Flickr8k.token.txt")):2: the key \"b.jpg\" has no #<n> caption number — write the key as <image>#<n>, for example 1000268201_693b08cb0e.jpg#0")
    }

    @Test func tokenKeyWithNonNumericCaptionNumber() throws {
        let (message, dir) = try loadError("b.jpg#x\tbad number\n", named: "results_20130124.token")
        #expect(message.hasPrefix("\(dir.path("results_20130124.token")):1: the key \"b.jpg#x\" is not of the form <image>#<n>"))
    }

    @Test func tokenEmptyCaption() throws {
        let (message, dir) = try loadError("a.jpg#0\tfine\na.jpg#1\t   \n", named: "Flickr8k.token.txt")
        #expect(message == "\(dir.path("Flickr8k.token.txt")):2: the caption for \"a.jpg#1\" is empty — write the caption after the tab or delete the line")
    }

    @Test func csvUnterminatedQuoteNamesTheLineWhereItOpens() throws {
        let (message, dir) = try loadError("image,caption\na.jpg,fine\nb.jpg,\"never closed\nc.jpg,more\n", named: "captions.txt")
        #expect(message == "\(dir.path("captions.txt")):3: unterminated quoted field (a '\"' opens here and is never closed) — close the quote, and write any quote inside a caption as two quotes (\"\")")
    }

    @Test func csvUnbalancedQuoteClosedByALaterLineNamesTheLineWhereItOpens() throws {
        // Line 3's quote is never closed there; the parser only notices on line 5, where the next
        // quote is followed by text. The message must name line 3.
        let text = "image,caption\na.jpg,fine\nb.jpg,\"A dog runs\nc.jpg,A cat\nd.jpg,\"A bird\" sings\n"
        let (message, dir) = try loadError(text, named: "captions.txt")
        #expect(message == "\(dir.path("captions.txt")):3: unbalanced quote (a '\"' opens a field here and the next quote, on line 5, is followed by more text) — close the quote on this line, and write any quote inside a caption as two quotes (\"\")")
    }

    @Test func csvUnbalancedQuoteThatSwallowsADelimiterNamesTheLineWhereItOpens() throws {
        // The quote opened on line 2 closes at the end of line 3, so the record spans both lines and
        // has three fields; the field-count error names line 2 and says where the quote closed.
        let text = "image,caption\na.jpg,\"A dog\nb.jpg,A cat\",extra\nc.jpg,fine\n"
        let (message, dir) = try loadError(text, named: "captions.txt")
        #expect(message == "\(dir.path("captions.txt")):2: expected 2 fields as in the header but found 3, in a record whose quoted field opens here and only closes on line 3 — close the quote on this line, and write any quote inside a caption as two quotes (\"\")")
    }

    @Test func csvTextAfterClosingQuote() throws {
        let (message, dir) = try loadError("image,caption\na.jpg,\"quoted\" tail\n", named: "captions.txt")
        #expect(message.hasPrefix("\(dir.path("captions.txt")):2: unexpected text after a closing quote"))
    }

    @Test func csvWrongFieldCountAfterAMultiLineField() throws {
        // The record count must follow physical lines, including those inside quoted fields.
        let (message, dir) = try loadError("image,caption\na.jpg,\"two\nlines\"\nb.jpg,a,b\n", named: "captions.txt")
        #expect(message == "\(dir.path("captions.txt")):4: expected 2 fields as in the header but found 3 — wrap a caption that contains the delimiter in double quotes")
    }

    @Test func csvEmptyCaption() throws {
        let (message, dir) = try loadError("image,caption\na.jpg,fine\nb.jpg,\"  \"\n", named: "captions.txt")
        #expect(message == "\(dir.path("captions.txt")):3: the caption for \"b.jpg\" is empty — write the caption or delete the line")
    }

    @Test func folderCSVUnknownSplit() throws {
        let (message, dir) = try loadError("file,caption,split\na.png,x,train\nb.png,y,holdout\n", named: "data.csv")
        #expect(message == "\(dir.path("data.csv")):3: unknown split \"holdout\" — use train, val, test (or restval), or leave the split empty")
    }

    @Test func folderCSVConflictingSplitsForOneImage() throws {
        let (message, dir) = try loadError("file,caption,split\na.png,x,train\na.png,y,test\n", named: "data.csv")
        #expect(message.hasPrefix("\(dir.path("data.csv")):3: image \"a.png\" is in split train earlier but in test here"))
    }

    @Test func pipeFileRowMissingASeparatorLikeTheRealKaggleQuirk() throws {
        // The public results.csv has a row like this (comment number and comment run together).
        let text = """
            image_name| comment_number| comment
            2199200615.jpg| 3| A dog runs .
            2199200615.jpg| 4   A dog runs across the grass .
            """
        let (message, dir) = try loadError(text, named: "results.csv")
        #expect(message == "\(dir.path("results.csv")):3: expected 3 '|'-separated fields (image_name, comment_number, comment) but found 2 — put a '|' between the image name, the comment number and the comment")
    }

    @Test func pipeFileRowWithMissingComment() throws {
        let (message, dir) = try loadError("image_name| comment_number| comment\nx.jpg| 0| fine\nx.jpg| 1|   \n", named: "results.csv")
        #expect(message == "\(dir.path("results.csv")):3: the comment for \"x.jpg\" is empty — write the caption after the last '|' or delete the line")
    }

    @Test func pipeFileBadCommentNumber() throws {
        let (message, dir) = try loadError("image_name| comment_number| comment\nx.jpg| one| fine\n", named: "results.csv")
        #expect(message.hasPrefix("\(dir.path("results.csv")):2: the comment number \"one\" is not a whole number"))
    }

    @Test func karpathyBadJSONNamesTheLine() throws {
        let (message, dir) = try loadError("{\n  \"images\": [\n    {\"filename\": }\n  ]\n}\n", named: "dataset_flickr8k.json")
        #expect(message == "\(dir.path("dataset_flickr8k.json")):3: the file is not valid JSON — re-download the Karpathy split file; it may be truncated")
    }

    @Test func karpathyUnknownSplitNamesTheImage() throws {
        let text = #"{"images": [{"filename": "a.jpg", "split": "holdout", "sentences": [{"raw": "x"}]}]}"#
        let (message, dir) = try loadError(text, named: "dataset_flickr8k.json")
        #expect(message == "\(dir.path("dataset_flickr8k.json")): image entry 1 (\"a.jpg\") has the unknown split \"holdout\" — use train, val, test or restval")
    }

    @Test func karpathyEmptySentence() throws {
        let text = #"{"images": [{"filename": "a.jpg", "split": "val", "sentences": [{"raw": " ", "tokens": []}]}]}"#
        let (message, _) = try loadError(text, named: "dataset_flickr8k.json")
        #expect(message.contains("sentence 1 of image entry 1 (\"a.jpg\") is empty"))
    }

    @Test func zeroByteCaptionFile() throws {
        let (message, dir) = try loadError("", named: "captions.txt")
        #expect(message == "\(dir.path("captions.txt")): the file is empty (0 bytes) — re-download or regenerate the caption file")
    }

    @Test func headerOnlyIsAnEmptyDataset() throws {
        let (message, dir) = try loadError("image,caption\n", named: "captions.txt")
        #expect(message == "\(dir.path("captions.txt")): the dataset has no captions — check that this is the right caption file and that it is complete")
    }

    @Test func invalidUTF8NamesTheLine() throws {
        let dir = try TemporaryDirectory()
        var bytes = Array("a.jpg#0\tfine\na.jpg#1\t".utf8)
        bytes += [0xFF, 0xFE, 0x0A]
        try Data(bytes).write(to: dir.url.appendingPathComponent("Flickr8k.token.txt"))
        let error = #expect(throws: DatasetError.self) { try CaptionDataset.load(dir.path, checkImages: false) }
        #expect(error?.description.hasPrefix("\(dir.path("Flickr8k.token.txt")):2: the line is not valid UTF-8 text") == true)
    }

    @Test func imageListedInTwoSplits() throws {
        let dir = try TemporaryDirectory()
        try dir.write("image,caption\na.jpg,x\n", to: "captions.txt")
        try dir.write("a.jpg\n", to: "splits/train.txt")
        try dir.write("b.jpg\na.jpg\n", to: "splits/test.txt")
        let error = #expect(throws: DatasetError.self) { try CaptionDataset.load(dir.path, checkImages: false) }
        #expect(error?.description == "\(dir.path("splits/test.txt")):2: image \"a.jpg\" is already listed in the train split — list every image in exactly one split file")
    }

    @Test func missingPathAndUnrecognisedDirectory() throws {
        let dir = try TemporaryDirectory()
        let missing = #expect(throws: DatasetError.self) { try CaptionDataset.load(dir.path("nope")) }
        #expect(missing?.description.contains("no such file or directory") == true)
        try dir.write("hello", to: "readme.md")
        let unknown = #expect(throws: DatasetError.self) { try CaptionDataset.load(dir.path) }
        #expect(unknown?.description.hasPrefix("\(dir.path): no caption file found in this directory — expected Flickr8k.token.txt") == true)
    }
}
