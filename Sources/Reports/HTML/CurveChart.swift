import Captioning
import Foundation

/// One line of a learning-curve chart: a model's value of one quantity per epoch.
public struct CurveSeries: Sendable {
    public var label: String
    public var points: [(x: Double, y: Double)]

    public init(label: String, points: [(x: Double, y: Double)]) {
        self.label = label
        self.points = points
    }
}

/// Learning curves as inline SVG: training loss and validation scores per epoch, one chart per
/// quantity, one coloured line per model, so the HTML report needs no script or image file.
public enum CurveChart {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    /// The quantities of an epoch log worth plotting, with how to read them off a record.
    public static let quantities: [(title: String, value: (EpochRecord) -> Double?)] = [
        ("training loss", { $0.trainLoss }),
        ("validation BLEU-4", { $0.validation["BLEU-4"] }),
        ("validation CIDEr-D", { $0.validation["CIDEr-D"] }),
    ]

    /// One chart per quantity (skipping quantities no history has), side by side in one SVG element.
    public static func svg(histories: [(label: String, history: [EpochRecord])], chartWidth: Int = 400, chartHeight: Int = 260,
                           standalone: Bool = false) -> String {
        var charts: [String] = []
        for quantity in quantities {
            let series = histories.map { entry in
                CurveSeries(label: entry.label, points: entry.history.compactMap { r in quantity.value(r).map { (Double(r.epoch), $0) } })
            }
            guard series.contains(where: { !$0.points.isEmpty }) else { continue }
            charts.append(chart(title: quantity.title, series: series, width: chartWidth, height: chartHeight,
                                offsetX: charts.count * chartWidth))
        }
        let legendHeight = 22 * ((histories.count + 2) / 3) + 8
        let width = max(chartWidth, charts.count * chartWidth)
        let height = chartHeight + legendHeight
        var legend = ""
        for (i, entry) in histories.enumerated() {
            let x = 50 + (i % 3) * 260, y = chartHeight + 14 + (i / 3) * 22
            legend += "<line x1=\"\(x)\" y1=\"\(y)\" x2=\"\(x + 24)\" y2=\"\(y)\" stroke=\"\(color(i))\" stroke-width=\"3\"/>"
            legend += "<text x=\"\(x + 30)\" y=\"\(y + 4)\" font-size=\"13\">\(HTML.escape(entry.label))</text>"
        }
        let namespace = standalone ? " xmlns=\"http://www.w3.org/2000/svg\"" : ""
        let header = standalone ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" : ""
        return header + "<svg\(namespace) class=\"curves\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" "
            + "font-family=\"sans-serif\" role=\"img\"><rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
            + charts.joined() + legend + "</svg>"
    }

    static func color(_ i: Int) -> String { palette[i % palette.count] }

    static func chart(title: String, series: [CurveSeries], width: Int, height: Int, offsetX: Int) -> String {
        let left = 50.0, right = 14.0, top = 28.0, bottom = 36.0
        let plotWidth = Double(width) - left - right, plotHeight = Double(height) - top - bottom
        let all = series.flatMap(\.points)
        let maxX = max(all.map(\.x).max() ?? 1, 2)
        var minY = all.map(\.y).min() ?? 0, maxY = all.map(\.y).max() ?? 1
        if minY > 0 && minY < maxY * 0.5 { minY = 0 }    // scores start from 0 when that costs little space
        if maxY - minY < 1e-9 { maxY = minY + 1 }
        let pad = (maxY - minY) * 0.05
        minY -= pad; maxY += pad
        func px(_ x: Double) -> Double { left + (x - 1) / max(maxX - 1, 1) * plotWidth }
        func py(_ y: Double) -> Double { top + (1 - (y - minY) / (maxY - minY)) * plotHeight }
        var s = "<g transform=\"translate(\(offsetX),0)\">"
        s += "<text x=\"\(Int(left))\" y=\"18\" font-size=\"14\" font-weight=\"bold\">\(HTML.escape(title))</text>"
        s += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"none\" stroke=\"#999\"/>"
        for k in 0...4 {   // horizontal grid with values
            let y = minY + (maxY - minY) * Double(k) / 4
            s += "<line x1=\"\(left)\" y1=\"\(fmt(py(y)))\" x2=\"\(left + plotWidth)\" y2=\"\(fmt(py(y)))\" stroke=\"#eee\"/>"
            s += "<text x=\"\(left - 4)\" y=\"\(fmt(py(y) + 4))\" font-size=\"11\" text-anchor=\"end\">\(String(format: "%.3g", y))</text>"
        }
        let step = max(1, Int((maxX / 8).rounded(.up)))
        for epoch in stride(from: 1, through: Int(maxX), by: step) {
            s += "<text x=\"\(fmt(px(Double(epoch))))\" y=\"\(fmt(top + plotHeight + 15))\" font-size=\"11\" text-anchor=\"middle\">\(epoch)</text>"
        }
        s += "<text x=\"\(fmt(left + plotWidth / 2))\" y=\"\(height - 4)\" font-size=\"12\" text-anchor=\"middle\">epoch</text>"
        for (i, line) in series.enumerated() where !line.points.isEmpty {
            let path = line.points.map { "\(fmt(px($0.x))),\(fmt(py($0.y)))" }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"\(color(i))\" stroke-width=\"2\" points=\"\(path)\"/>"
            for p in line.points {
                s += "<circle cx=\"\(fmt(px(p.x)))\" cy=\"\(fmt(py(p.y)))\" r=\"3\" fill=\"\(color(i))\"><title>\(HTML.escape(line.label)) epoch \(Int(p.x)): \(String(format: "%.4f", p.y))</title></circle>"
            }
        }
        return s + "</g>"
    }

    static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }
}
