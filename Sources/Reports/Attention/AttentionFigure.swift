import Foundation

/// The picture the encoder saw, then one panel per generated word: the word's attention map over the
/// grid cells, upsampled bilinearly and laid over the picture in a heat colour map whose opacity
/// grows with the weight; the word under each panel, and for adaptive attention the sentinel weight β
/// ("β 0.42" and a bar: how much the word came from the language model rather than the image).
public struct AttentionFigure {
    public struct Word: Sendable {
        public var text: String
        /// Weights over the grid cells, row-major (L = rows × columns).
        public var attention: [Float]
        /// β of adaptive attention; nil for soft attention.
        public var sentinel: Float?

        public init(text: String, attention: [Float], sentinel: Float? = nil) {
            self.text = text
            self.attention = attention
            self.sentinel = sentinel
        }
    }

    /// Where the figure's panels are: the picture's first, then one per word, in reading order.
    public struct Layout: Sendable {
        public var width: Int, height: Int
        public var panels: [(x: Int, y: Int)]
        public var panelSize: Int
        public var labelHeight: Int
    }

    public var picture: Canvas
    public var caption: String
    public var words: [Word]
    public var panelSize: Int
    public var columns: Int

    static let margin = 8, gap = 8, titleScale = 2, labelScale = 2

    public init(picture: Canvas, caption: String, words: [Word], panelSize: Int = 224, columns: Int = 5) {
        self.picture = picture
        self.caption = caption
        self.words = words
        self.panelSize = panelSize
        self.columns = max(1, columns)
    }

    var showsSentinel: Bool { words.contains { $0.sentinel != nil } }

    public var layout: Layout {
        let panelCount = words.count + 1
        let perRow = min(columns, panelCount)
        let rows = (panelCount + perRow - 1) / perRow
        let labelHeight = 6 + Canvas.textHeight(scale: Self.labelScale) + (showsSentinel ? 8 + Canvas.textHeight(scale: Self.labelScale) + 10 : 0) + 6
        let titleHeight = Canvas.textHeight(scale: Self.titleScale) + 2 * Self.margin
        let width = 2 * Self.margin + perRow * panelSize + (perRow - 1) * Self.gap
        let height = titleHeight + rows * (panelSize + labelHeight) + (rows - 1) * Self.gap + Self.margin
        let panels = (0..<panelCount).map { i in
            (x: Self.margin + (i % perRow) * (panelSize + Self.gap),
             y: titleHeight + (i / perRow) * (panelSize + labelHeight + Self.gap))
        }
        return Layout(width: width, height: height, panels: panels, panelSize: panelSize, labelHeight: labelHeight)
    }

    /// Rows × columns of a grid of `cells` cells: square when possible (7×7 for L = 49), else one row.
    public static func gridShape(cells: Int) -> (rows: Int, columns: Int) {
        let side = Int(Double(cells).squareRoot().rounded())
        return side * side == cells ? (side, side) : (1, cells)
    }

    /// The attention map upsampled bilinearly to size × size and stretched to [0, 1] between its
    /// smallest and largest weight: the figure shows where a word looks relative to the rest of the
    /// picture (diffuse maps and adaptive attention's α, which sums to 1 − β, stay readable). A
    /// uniform map is all 0.
    public static func heatmap(_ attention: [Float], size: Int) -> [Float] {
        let (rows, columns) = gridShape(cells: attention.count)
        let low = attention.min() ?? 0, range = (attention.max() ?? 0) - low
        var out = [Float](repeating: 0, count: size * size)
        guard range > 0 else { return out }
        for y in 0..<size {
            let (r0, r1, fy) = Canvas.bilinearTaps(y, from: size, to: rows)
            for x in 0..<size {
                let (c0, c1, fx) = Canvas.bilinearTaps(x, from: size, to: columns)
                let top = attention[r0 * columns + c0] * (1 - fx) + attention[r0 * columns + c1] * fx
                let bottom = attention[r1 * columns + c0] * (1 - fx) + attention[r1 * columns + c1] * fx
                out[y * size + x] = (top * (1 - fy) + bottom * fy - low) / range
            }
        }
        return out
    }

    /// The picture with `attention` laid over it at `size` × `size`.
    public static func overlay(_ picture: Canvas, attention: [Float], size: Int) -> Canvas {
        overlay(resizedPicture: picture.resized(width: size, height: size), attention: attention)
    }

    /// `attention` laid over a picture already at panel size.
    static func overlay(resizedPicture panel: Canvas, attention: [Float]) -> Canvas {
        var panel = panel
        let heat = heatmap(attention, size: panel.width)
        for i in 0..<(panel.width * panel.height) {
            let v = heat[i]
            let color = HeatColorMap.color(v)
            let alpha = 0.1 + 0.6 * v   // cold cells stay readable, hot cells glow
            func blend(_ under: UInt8, _ value: Float) -> UInt8 {
                UInt8(min(255, max(0, (Float(under) * (1 - alpha) + value * 255 * alpha).rounded())))
            }
            panel.pixels[i * 3] = blend(panel.pixels[i * 3], color.r)
            panel.pixels[i * 3 + 1] = blend(panel.pixels[i * 3 + 1], color.g)
            panel.pixels[i * 3 + 2] = blend(panel.pixels[i * 3 + 2], color.b)
        }
        return panel
    }

    public func render() -> Canvas {
        let layout = self.layout
        var canvas = Canvas(width: layout.width, height: layout.height)
        canvas.text(Canvas.fitting(caption, width: layout.width - 2 * Self.margin, scale: Self.titleScale),
                    x: Self.margin, y: Self.margin, scale: Self.titleScale)
        let size = panelSize
        let resized = picture.resized(width: size, height: size)
        canvas.draw(resized, x: layout.panels[0].x, y: layout.panels[0].y)
        label(&canvas, "(image)", at: layout.panels[0], color: (110, 110, 110))
        for (word, origin) in zip(words, layout.panels.dropFirst()) {
            canvas.draw(Self.overlay(resizedPicture: resized, attention: word.attention), x: origin.x, y: origin.y)
            label(&canvas, word.text, at: origin, color: (0, 0, 0))
            if let beta = word.sentinel {
                let y = origin.y + size + 6 + Canvas.textHeight(scale: Self.labelScale) + 8
                canvas.text("β " + String(format: "%.2f", beta), x: origin.x, y: y, scale: Self.labelScale, color: (60, 60, 160))
                let barY = y + Canvas.textHeight(scale: Self.labelScale) + 3
                canvas.fill(x: origin.x, y: barY, width: size, height: 5, (225, 225, 225))
                canvas.fill(x: origin.x, y: barY, width: Int((Float(size) * min(max(beta, 0), 1)).rounded()), height: 5, (60, 60, 160))
            }
        }
        return canvas
    }

    private func label(_ canvas: inout Canvas, _ text: String, at origin: (x: Int, y: Int), color: (r: UInt8, g: UInt8, b: UInt8)) {
        canvas.text(Canvas.fitting(text, width: panelSize, scale: Self.labelScale), x: origin.x, y: origin.y + panelSize + 6,
                    scale: Self.labelScale, color: color)
    }
}
