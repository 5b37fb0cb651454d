@testable import Captioning
import Foundation
import Testing
@testable import Reports

func rgb(_ p: (r: UInt8, g: UInt8, b: UInt8)) -> [UInt8] { [p.r, p.g, p.b] }

@Suite struct AttentionFigureTests {
    static let grey = Canvas(width: 224, height: 224, fill: (128, 128, 128))

    static func oneHot(row: Int, column: Int) -> [Float] {
        var map = [Float](repeating: 0, count: 49)
        map[row * 7 + column] = 1
        return map
    }

    @Test func oneHotMapLightsItsCellOnly() {
        let figure = AttentionFigure(picture: Self.grey, caption: "a red circle",
                                     words: [.init(text: "circle", attention: Self.oneHot(row: 2, column: 5))], panelSize: 224)
        let canvas = figure.render()
        let panel = figure.layout.panels[1]
        // 224 px over 7 cells: cell (2, 5) spans x 160..<192, y 64..<96.
        let hot = canvas.pixel(x: panel.x + 176, y: panel.y + 80)
        let cold = canvas.pixel(x: panel.x + 16, y: panel.y + 208)
        #expect(Int(hot.r) > Int(hot.b) + 100, "the attended cell is drawn hot (red), got \(hot)")
        #expect(abs(Int(cold.r) - Int(cold.b)) < 20, "a far cell keeps the grey picture, got \(cold)")
        // The upsampled map peaks inside that cell.
        let heat = AttentionFigure.heatmap(Self.oneHot(row: 2, column: 5), size: 224)
        let peak = heat.indices.max { heat[$0] < heat[$1] }!
        #expect((160..<192).contains(peak % 224) && (64..<96).contains(peak / 224))
        #expect(heat.max()! > 0.95 && heat.max()! <= 1)   // pixel centres fall near, not on, the cell centre
    }

    @Test func onePanelPerWordAfterThePicture() {
        let caption = DecodedCaption(tokens: [4, 5, 6, 7, 8, 9, 10], logProbability: -3, score: -3, finished: true,
                                     attention: (0..<7).map { Self.oneHot(row: $0, column: $0) }, sentinel: [])
        let vocabulary = ["<pad>", "<start>", "<end>", "<unk>", "a", "red", "circle", "left", "of", "the", "square"]
        let figure = AttentionFigure(picture: Self.grey, caption: caption, vocabulary: vocabulary, panelSize: 64, columns: 3)!
        #expect(figure.words.map { $0.text } == ["a", "red", "circle", "left", "of", "the", "square"])
        #expect(figure.caption == "a red circle left of the square")
        let layout = figure.layout
        #expect(layout.panels.count == 8)              // the picture, then seven words
        let rendered = figure.render()
        #expect(rendered.width == layout.width && rendered.height == layout.height)
        // Three panels per row: eight panels take three rows.
        #expect(Set(layout.panels.map { $0.y }).count == 3)
    }

    @Test func showTellCaptionsHaveNoFigure() {
        let caption = DecodedCaption(tokens: [4, 5], logProbability: -1, score: -1, finished: true, attention: [], sentinel: [])
        #expect(AttentionFigure(picture: Self.grey, caption: caption, vocabulary: ["<pad>", "<start>", "<end>", "<unk>", "a", "b"]) == nil)
    }

    @Test func adaptiveFiguresShowTheSentinelWeight() {
        let words: [AttentionFigure.Word] = [.init(text: "a", attention: Self.oneHot(row: 0, column: 0), sentinel: 0.42),
                                             .init(text: "square", attention: Self.oneHot(row: 6, column: 6), sentinel: 0.07)]
        let figure = AttentionFigure(picture: Self.grey, caption: "a square", words: words, panelSize: 96)
        let canvas = figure.render()
        // Draw the expected text alone and find it, pixel for pixel, where the β line goes.
        let layout = figure.layout
        let scale = AttentionFigure.labelScale
        let textY = layout.panels[1].y + 96 + 6 + Canvas.textHeight(scale: scale) + 8
        var expected = Canvas(width: Canvas.textWidth("β 0.42", scale: scale), height: Canvas.textHeight(scale: scale))
        expected.text("β 0.42", x: 0, y: 0, scale: scale, color: (60, 60, 160))
        var drawn = Canvas(width: expected.width, height: expected.height)
        for y in 0..<expected.height { for x in 0..<expected.width {
            drawn.set(x: x, y: y, canvas.pixel(x: layout.panels[1].x + x, y: textY + y))
        } }
        #expect(drawn == expected)
        #expect(expected.pixels.contains(60), "the text has ink")
        // The β bar is 42% of the panel wide.
        let barY = textY + Canvas.textHeight(scale: scale) + 3
        #expect(rgb(canvas.pixel(x: layout.panels[1].x + 38, y: barY + 2)) == [60, 60, 160])
        #expect(rgb(canvas.pixel(x: layout.panels[1].x + 42, y: barY + 2)) == [225, 225, 225])
        // Soft attention (no β) has the shorter label and no β line.
        let soft = AttentionFigure(picture: Self.grey, caption: "a square",
                                   words: words.map { .init(text: $0.text, attention: $0.attention) }, panelSize: 96)
        #expect(soft.layout.labelHeight < layout.labelHeight)
    }

    @Test func figuresEncodeAsPNG() throws {
        let figure = AttentionFigure(picture: Self.grey, caption: "x", words: [.init(text: "x", attention: Self.oneHot(row: 3, column: 3))],
                                     panelSize: 48)
        let png = try figure.render().pngData()
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    }
}
