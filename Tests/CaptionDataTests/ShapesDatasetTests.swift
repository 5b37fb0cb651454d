import Foundation
import Testing
import TestSupport
import CaptionData

@Suite struct ShapesDatasetTests {
    @Test func splitMix64MatchesTheReferenceSequence() {
        // First outputs of the reference C implementation seeded with 0.
        var rng = SplitMix64(seed: 0)
        #expect(rng.next() == 0xE220_A839_7B1D_CDAF)
        #expect(rng.next() == 0x6E78_9E6A_A1B9_65F4)
        var bounded = SplitMix64(seed: 42)
        #expect((0..<1000).allSatisfy { _ in (0..<7).contains(bounded.below(7)) })
    }

    @Test func everyCaptionIsTrueOfItsScene() {
        for relations in [false, true] {
            var positional = 0, total = 0
            for index in 0..<400 {
                let example = ShapesDataset.example(index: index, of: 400, seed: 11, relations: relations)
                let shapes = example.scene.shapes
                #expect((1...3).contains(shapes.count))
                #expect(Set(shapes.map { "\($0.color) \($0.kind)" }).count == shapes.count)
                #expect(example.captions.count == 5)
                #expect(Set(example.captions).count == 5, "captions repeat: \(example.captions)")
                var checker = CaptionTruthChecker(scene: example.scene)
                var positionalHere = 0
                for caption in example.captions {
                    let before = checker.relationClaims + checker.regionClaims
                    if let falsehood = checker.falsehood(in: caption) {
                        Issue.record("\(example.fileName) \"\(caption)\": \(falsehood)")
                    }
                    if checker.relationClaims + checker.regionClaims > before { positionalHere += 1 }
                }
                if relations {
                    #expect(positionalHere >= 4, "relation-heavy captions should mostly hinge on position: \(example.captions)")
                }
                positional += positionalHere
                total += example.captions.count
            }
            if relations {
                #expect(Double(positional) / Double(total) >= 0.8)
            } else {
                #expect(Double(positional) / Double(total) < 0.6)
            }
        }
    }

    @Test func scenesUseTheWholeVocabularyAndNeverOverlap() {
        var kinds: Set<ShapeKind> = [], colors: Set<ShapeColor> = [], sizes: Set<ShapeSize> = []
        var backgrounds: Set<BackgroundStyle> = [], relationWords: Set<String> = []
        for index in 0..<300 {
            let example = ShapesDataset.example(index: index, of: 300, seed: 5, relations: true)
            let shapes = example.scene.shapes
            backgrounds.insert(example.scene.background.style)
            for (i, a) in shapes.enumerated() {
                kinds.insert(a.kind)
                colors.insert(a.color)
                sizes.insert(a.size)
                #expect(a.centerX - a.boundingRadius >= 0 && a.centerX + a.boundingRadius < 224)
                #expect(a.centerY - a.boundingRadius >= 0 && a.centerY + a.boundingRadius < 224)
                for b in shapes[(i + 1)...] {
                    let distance = ((a.centerX - b.centerX) * (a.centerX - b.centerX) + (a.centerY - b.centerY) * (a.centerY - b.centerY)).squareRoot()
                    #expect(distance > a.boundingRadius + b.boundingRadius, "overlapping shapes in \(example.fileName)")
                }
            }
            for caption in example.captions {
                for phrase in ["left of", "right of", "above", "below", "next to", "under", "over", "beside"] where caption.contains(phrase) {
                    relationWords.insert(phrase)
                }
            }
        }
        #expect(kinds == Set(ShapeKind.allCases))
        #expect(colors == Set(ShapeColor.allCases))
        #expect(sizes == Set(ShapeSize.allCases))
        #expect(backgrounds == Set(BackgroundStyle.allCases))
        #expect(relationWords == ["left of", "right of", "above", "below", "next to", "under", "over", "beside"])
    }

    @Test func renderedShapesHaveTheirColourAtTheCentre() {
        for index in 0..<40 {
            let example = ShapesDataset.example(index: index, of: 40, seed: 3, relations: false)
            let image = SceneRenderer.render(example.scene)
            #expect(image.width == 224 && image.height == 224)
            for shape in example.scene.shapes {
                #expect(image.pixel(x: Int(shape.centerX), y: Int(shape.centerY)) == shape.color.rgb)
                // Well outside the shape the background shows through.
                let outsideX = Int(shape.centerX) + Int(shape.boundingRadius) + 3
                if outsideX < 224, example.scene.shapes.allSatisfy({ abs($0.centerX - Double(outsideX)) > $0.boundingRadius + 2 || abs($0.centerY - shape.centerY) > $0.boundingRadius + 2 }) {
                    #expect(image.pixel(x: outsideX, y: Int(shape.centerY)) != shape.color.rgb)
                }
            }
        }
    }

    @Test func pngEncodingIsAValidRGBImageAndDeterministic() throws {
        let scene = ShapesDataset.example(index: 0, of: 1, seed: 9, relations: true).scene
        let png = try PNGEncoder.encode(SceneRenderer.render(scene))
        let bytes = [UInt8](png)
        #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(Array(bytes[12..<16]) == Array("IHDR".utf8))
        #expect(Array(bytes[16..<24]) == [0, 0, 0, 224, 0, 0, 0, 224])
        #expect(bytes[24] == 8 && bytes[25] == 2, "8-bit RGB")
        #expect(try PNGEncoder.encode(SceneRenderer.render(scene)) == png)
    }

    @Test func sameSeedWritesByteIdenticalDatasets() throws {
        let dir = try TemporaryDirectory()
        let first = dir.url.appendingPathComponent("first"), second = dir.url.appendingPathComponent("second")
        var reported: [Int] = []
        try writeShapesDataset(to: first, images: 70, seed: 2024, relations: true) { reported.append($0) }
        try writeShapesDataset(to: second, images: 70, seed: 2024, relations: true, progress: nil)
        #expect(reported == [64, 70])
        let files = try relativeFiles(in: first)
        #expect(files.count == 70 + 4)
        #expect(try relativeFiles(in: second) == files)
        for file in files {
            let a = try Data(contentsOf: first.appendingPathComponent(file))
            let b = try Data(contentsOf: second.appendingPathComponent(file))
            #expect(a == b, "\(file) differs between runs")
        }
        // A different seed gives different scenes and captions.
        #expect(ShapesDataset.example(index: 0, of: 70, seed: 2025, relations: true) != ShapesDataset.example(index: 0, of: 70, seed: 2024, relations: true))
        // No staging directories are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["first", "second"])
    }

    @Test func writtenDatasetLoadsAsFlickr8kKaggleWithSplits() throws {
        let dir = try TemporaryDirectory()
        let output = dir.url.appendingPathComponent("shapes")
        try writeShapesDataset(to: output, images: 50, seed: 77, relations: false, progress: nil)
        let dataset = try CaptionDataset.load(output.path, strict: true)
        #expect(dataset.layout == .flickr8kKaggle)
        #expect(dataset.items.count == 50)
        #expect(dataset.missingImages.isEmpty)
        #expect(dataset.split(.train).count == 40)
        #expect(dataset.split(.val).count == 5)
        #expect(dataset.split(.test).count == 5)
        for (index, item) in dataset.items.enumerated() {
            let example = ShapesDataset.example(index: index, of: 50, seed: 77, relations: false)
            #expect(item.image == example.fileName)
            #expect(item.captions == example.captions, "captions must survive CSV quoting")
        }
        let csv = try String(contentsOf: output.appendingPathComponent("captions.txt"), encoding: .utf8)
        #expect(csv.hasPrefix("image,caption\n00000.png,"))
    }

    @Test func rewritingReplacesADatasetButNeverUnrelatedFiles() throws {
        let dir = try TemporaryDirectory()
        let output = dir.url.appendingPathComponent("shapes")
        try writeShapesDataset(to: output, images: 12, seed: 1, relations: false, progress: nil)
        try writeShapesDataset(to: output, images: 10, seed: 2, relations: true, progress: nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: output.appendingPathComponent("Images").path).count == 10)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["shapes"])

        try dir.write("precious", to: "documents/notes.txt")
        let error = #expect(throws: DatasetError.self) {
            try writeShapesDataset(to: dir.url.appendingPathComponent("documents"), images: 3, seed: 1, relations: false, progress: nil)
        }
        #expect(error?.description == "\(dir.path("documents")): exists and holds files that are not a Shapes dataset — choose a new or empty directory for the dataset")
        #expect(try String(contentsOf: dir.url.appendingPathComponent("documents/notes.txt"), encoding: .utf8) == "precious")
        #expect(throws: DatasetError.self) {
            try writeShapesDataset(to: output, images: 0, seed: 1, relations: false, progress: nil)
        }
    }

    @Test func splitsAre80_10_10AndFileNamesSortInOrder() {
        let splits = (0..<100).map { ShapesDataset.split(ofIndex: $0, total: 100) }
        #expect(splits.filter { $0 == .train }.count == 80)
        #expect(splits.filter { $0 == .val }.count == 10)
        #expect(splits.filter { $0 == .test }.count == 10)
        #expect(ShapesDataset.fileName(index: 7, total: 100) == "00007.png")
        #expect(ShapesDataset.fileName(index: 7, total: 200_000) == "000007.png")
    }

    private func relativeFiles(in directory: URL) throws -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: directory.path)
        var files: [String] = []
        while let path = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: directory.appendingPathComponent(path).path, isDirectory: &isDirectory)
            if !isDirectory.boolValue { files.append(path) }
        }
        return files.sorted()
    }
}

/// The truth checker must reject false captions, or the truthfulness test would prove nothing.
@Suite struct CaptionTruthCheckerTests {
    let scene = ShapeScene(
        background: Background(style: .plain, color: RGB(120, 120, 120), endColor: RGB(120, 120, 120),
                               vertical: false, noiseAmplitude: 0, noiseSeed: 0),
        shapes: [
            PlacedShape(kind: .circle, color: .red, size: .small, centerX: 40, centerY: 112),
            PlacedShape(kind: .square, color: .blue, size: .large, centerX: 150, centerY: 112),
        ])

    @Test func acceptsTrueCaptions() {
        var checker = CaptionTruthChecker(scene: scene)
        for caption in ["a small red circle to the left of a big blue square", "there is a blue square right of a red disc",
                        "a blue square with a red circle next to it", "two shapes: a red circle and a blue square on a plain background",
                        "a red circle on the left and a blue square on the right"] {
            #expect(checker.falsehood(in: caption) == nil, "\(caption)")
        }
    }

    @Test func rejectsFalseCaptions() {
        var checker = CaptionTruthChecker(scene: scene)
        for caption in ["a red circle to the right of a blue square", "a red circle above a blue square",
                        "a blue square with a red circle right of it", "a large red circle and a blue square",
                        "a red circle and a green star", "a red circle", "three shapes: a red circle and a blue square",
                        "a red circle and a blue square on a noisy background", "a red circle at the top and a blue square",
                        "a red circle and a blue square in the top left corner"] {
            #expect(checker.falsehood(in: caption) != nil, "\(caption)")
        }
    }
}
