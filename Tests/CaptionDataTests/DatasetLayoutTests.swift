import Foundation
import Testing
import TestSupport
import CaptionData

@Suite struct DatasetLayoutTests {
    @Test func flickr8kOriginalWithSplitListsAndTheJpgNQuirk() throws {
        let dir = try TemporaryDirectory()
        try dir.write("""
            a.jpg#0\tA dog runs .
            a.jpg#1\tA brown dog running on grass .
            2258277193_586949ec62.jpg.1#0\tA caption for an image that does not exist .
            b.jpg#0\tTwo children play .
            c.jpg#0\tA man rides a bike .

            """, to: "Flickr8k.token.txt")
        try dir.write("a.jpg\n", to: "Flickr_8k.trainImages.txt")
        try dir.write("b.jpg\n", to: "Flickr_8k.devImages.txt")
        try dir.write("c.jpg\n", to: "Flickr_8k.testImages.txt")
        try dir.touchImages(["a.jpg", "b.jpg", "c.jpg"], in: "Flicker8k_Dataset")

        let dataset = try CaptionDataset.load(dir.path)
        #expect(dataset.layout == .flickr8kOriginal)
        #expect(dataset.items == [
            ImageCaptions(image: "a.jpg", split: .train, captions: ["A dog runs .", "A brown dog running on grass ."]),
            ImageCaptions(image: "b.jpg", split: .val, captions: ["Two children play ."]),
            ImageCaptions(image: "c.jpg", split: .test, captions: ["A man rides a bike ."]),
        ])
        #expect(dataset.missingImages.isEmpty)
        #expect(dataset.imagesDirectory.lastPathComponent == "Flicker8k_Dataset")
        #expect(dataset.split(.val).map(\.image) == ["b.jpg"])
        #expect(dataset.captionCount == 4)
        #expect(dataset.imageURL(for: dataset.items[1]).path == dir.path("Flicker8k_Dataset/b.jpg"))
        // The .jpg.N key is skipped with a warning naming its line, not an error.
        #expect(dataset.warnings.contains { $0.hasSuffix("Flickr8k.token.txt:3: skipped caption for \"2258277193_586949ec62.jpg.1\" (a .jpg.N key with no image file)") })
        #expect(dataset.warnings.contains { $0.contains("skipped 1 caption(s)") })
    }

    @Test func flickr8kKaggleWithQuotedFieldsAndNoSplitLists() throws {
        let dir = try TemporaryDirectory()
        try dir.write("""
            image,caption
            a.jpg,A dog runs .
            a.jpg,"A dog, brown and wet, runs ."
            b.jpg,"She says ""hello"" to a cat ."
            b.jpg,"A caption that spans
            two lines ."

            """, to: "captions.txt")
        try dir.touchImages(["a.jpg", "b.jpg"], in: "Images")

        let dataset = try CaptionDataset.load(dir.path)
        #expect(dataset.layout == .flickr8kKaggle)
        #expect(dataset.items == [
            ImageCaptions(image: "a.jpg", split: nil, captions: ["A dog runs .", "A dog, brown and wet, runs ."]),
            ImageCaptions(image: "b.jpg", split: nil, captions: ["She says \"hello\" to a cat .", "A caption that spans\ntwo lines ."]),
        ])
        #expect(dataset.split(.train).isEmpty)
        #expect(dataset.imagesDirectory.lastPathComponent == "Images")
    }

    @Test func flickr8kKaggleTakesSplitsFromTheSplitsFolder() throws {
        let dir = try TemporaryDirectory()
        try dir.write("image,caption\r\na.png,one\r\nb.png,two\r\nc.png,three\r\nd.png,four\r\n", to: "captions.txt")
        try dir.write("a.png\nb.png\n", to: "splits/train.txt")
        try dir.write("c.png\n", to: "splits/val.txt")
        try dir.write("", to: "splits/test.txt")
        try dir.touchImages(["a.png", "b.png", "c.png", "d.png"], in: "Images")

        let dataset = try CaptionDataset.load(dir.path)
        #expect(dataset.items.map(\.split) == [.train, .train, .val, nil])
        #expect(dataset.items.map(\.captions) == [["one"], ["two"], ["three"], ["four"]])
    }

    @Test func flickr8kKaggleTakesSplitsFromFlickrListFiles() throws {
        let dir = try TemporaryDirectory()
        try dir.write("image,caption\na.jpg,one\nb.jpg,two\n", to: "captions.txt")
        try dir.write("a.jpg\n", to: "Flickr_8k.trainImages.txt")
        try dir.write("b.jpg\n", to: "Flickr_8k.testImages.txt")
        let dataset = try CaptionDataset.load(dir.path, checkImages: false)
        #expect(dataset.items.map(\.split) == [.train, .test])
    }

    @Test func flickr30kTokenFile() throws {
        let dir = try TemporaryDirectory()
        try dir.write("1000092795.jpg#0\tTwo young guys with shaggy hair .\n1000092795.jpg#1\tTwo friends enjoy time spent together .\n",
                      to: "results_20130124.token")
        try dir.touchImages(["1000092795.jpg"], in: "flickr30k-images")
        let dataset = try CaptionDataset.load(dir.path)
        #expect(dataset.layout == .flickr30kToken)
        #expect(dataset.items == [ImageCaptions(image: "1000092795.jpg", split: nil,
                                                captions: ["Two young guys with shaggy hair .", "Two friends enjoy time spent together ."])])
        #expect(dataset.missingImages.isEmpty)
    }

    @Test func flickr30kKagglePipeSeparatedWithPaddingAndBareQuotes() throws {
        let dir = try TemporaryDirectory()
        try dir.write("""
            image_name| comment_number| comment
            1000092795.jpg| 0| Two young guys with shaggy hair look at their hands .
            1000092795.jpg| 1|  A man in a "Hard Rock" shirt , smiling .\u{20}\u{20}
            10002456.jpg| 0| Several men in hard hats .

            """, to: "flickr30k_images/results.csv")
        try dir.touchImages(["1000092795.jpg", "10002456.jpg"], in: "flickr30k_images/flickr30k_images")

        // The Kaggle archive nests everything in flickr30k_images/: detection looks one level down.
        let dataset = try CaptionDataset.load(dir.path)
        #expect(dataset.layout == .flickr30kKaggle)
        #expect(dataset.items == [
            ImageCaptions(image: "1000092795.jpg", split: nil,
                          captions: ["Two young guys with shaggy hair look at their hands .", "A man in a \"Hard Rock\" shirt , smiling ."]),
            ImageCaptions(image: "10002456.jpg", split: nil, captions: ["Several men in hard hats ."]),
        ])
        #expect(dataset.missingImages.isEmpty)
    }

    @Test func karpathyJSONWithRestvalAndFilepath() throws {
        let dir = try TemporaryDirectory()
        try dir.write("""
            {"images": [
              {"filename": "x.jpg", "filepath": "train2014", "split": "train",
               "sentences": [{"raw": "A cat on a mat.", "tokens": ["a", "cat", "on", "a", "mat"]}]},
              {"filename": "y.jpg", "filepath": "val2014", "split": "restval",
               "sentences": [{"raw": "A dog.", "tokens": ["a", "dog"]}, {"raw": "", "tokens": ["a", "puppy"]}]},
              {"filename": "z.jpg", "filepath": "val2014", "split": "test",
               "sentences": [{"raw": "A bird.", "tokens": ["a", "bird"]}]},
              {"filename": "w.jpg", "filepath": "val2014", "split": "val",
               "sentences": [{"raw": "A fish.", "tokens": ["a", "fish"]}]}
            ], "dataset": "coco"}
            """, to: "dataset_coco.json")
        try dir.touchImages(["x.jpg"], in: "train2014")
        try dir.touchImages(["y.jpg", "z.jpg"], in: "val2014")

        let dataset = try CaptionDataset.load(dir.path)
        #expect(dataset.layout == .karpathyJSON)
        #expect(dataset.name == "coco")
        #expect(dataset.items == [
            ImageCaptions(image: "train2014/x.jpg", split: .train, captions: ["A cat on a mat."]),
            ImageCaptions(image: "val2014/y.jpg", split: .train, captions: ["A dog.", "a puppy"]),
            ImageCaptions(image: "val2014/z.jpg", split: .test, captions: ["A bird."]),
            ImageCaptions(image: "val2014/w.jpg", split: .val, captions: ["A fish."]),
        ])
        #expect(dataset.missingImages == ["val2014/w.jpg"])
        #expect(dataset.warnings.contains { $0.contains("1 captioned image(s) are missing") })
    }

    @Test func folderCSVWithSplitColumnAndOtherColumnNames() throws {
        let dir = try TemporaryDirectory()
        try dir.write("""
            id,filename,text,split
            1,p.png,"red, round",train
            2,q.png,blue,val
            3,r.png,green,
            4,p.png,crimson,train

            """, to: "labels.csv")
        try dir.touchImages(["p.png", "q.png", "r.png"], in: "images")
        let dataset = try CaptionDataset.load(dir.path)
        #expect(dataset.layout == .folderCSV)
        #expect(dataset.items == [
            ImageCaptions(image: "p.png", split: .train, captions: ["red, round", "crimson"]),
            ImageCaptions(image: "q.png", split: .val, captions: ["blue"]),
            ImageCaptions(image: "r.png", split: nil, captions: ["green"]),
        ])
        #expect(dataset.imagesDirectory.lastPathComponent == "images")
    }

    @Test func loadingACaptionFileDirectly() throws {
        let dir = try TemporaryDirectory()
        try dir.write("image,caption\na.jpg,hello\n", to: "nested/captions.txt")
        try dir.write("a.jpg#0\tthere\n", to: "other/my.token.txt")
        try dir.write("image\tcaption\na.jpg\tworld\n", to: "tsv/data.tsv")
        #expect(try CaptionDataset.load(dir.path("nested/captions.txt"), checkImages: false).layout == .flickr8kKaggle)
        #expect(try CaptionDataset.load(dir.path("other/my.token.txt"), checkImages: false).layout == .flickr8kOriginal)
        let tsv = try CaptionDataset.load(dir.path("tsv/data.tsv"), checkImages: false)
        #expect(tsv.layout == .folderCSV)
        #expect(tsv.items.first?.captions == ["world"])
    }

    @Test func explicitImagesDirectoryAndMissingImageCounting() throws {
        let dir = try TemporaryDirectory()
        try dir.write("image,caption\na.jpg,one\nb.jpg,two\nc.jpg,three\n", to: "captions.txt")
        try dir.touchImages(["b.jpg"], in: "pictures")
        let dataset = try CaptionDataset.load(dir.path, imagesDirectory: dir.path("pictures"))
        #expect(dataset.imagesDirectory.path == dir.path("pictures"))
        #expect(dataset.missingImages == ["a.jpg", "c.jpg"])
        #expect(dataset.items.count == 3)
        let unchecked = try CaptionDataset.load(dir.path, imagesDirectory: dir.path("pictures"), checkImages: false)
        #expect(unchecked.missingImages.isEmpty)
    }

    @Test func strictModeMakesMissingImagesAnError() throws {
        let dir = try TemporaryDirectory()
        try dir.write("image,caption\na.jpg,one\nb.jpg,two\nc.jpg,three\n", to: "captions.txt")
        try dir.touchImages(["b.jpg"], in: "Images")
        let error = #expect(throws: DatasetError.self) {
            try CaptionDataset.load(dir.path, strict: true)
        }
        #expect(error?.description == "\(dir.path("captions.txt")): 2 captioned image(s) are missing from \(dir.path("Images")), the first being \"a.jpg\" — put the images there, pass the right images directory, or load without strict checking")
    }
}
