import AtomicFiles
import CaptionData
import Foundation

enum HTML {
    private static let entities: [Character: String] = ["&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"]

    /// `text` safe inside an element or a quoted attribute.
    static func escape(_ text: String) -> String {
        text.reduce(into: "") { out, c in
            if let entity = entities[c] { out += entity } else { out.append(c) }
        }
    }

    static func pngDataURI(_ png: Data) -> String { "data:image/png;base64," + png.base64EncodedString() }
}

/// One row of the metric table: a model and its scores, plus facts such as parameters or time.
public struct MetricRow: Sendable {
    public var label: String
    public var scores: [(name: String, value: Double?)]
    public var facts: [(name: String, value: String)]

    public init(label: String, scores: [(name: String, value: Double?)], facts: [(name: String, value: String)] = []) {
        self.label = label
        self.scores = scores
        self.facts = facts
    }
}

/// What one model said about a sample image, with its attention figure when it attends.
public struct SamplePrediction: Sendable {
    public var model: String
    public var caption: String
    public var attentionPNG: Data?

    public init(model: String, caption: String, attentionPNG: Data? = nil) {
        self.model = model
        self.caption = caption
        self.attentionPNG = attentionPNG
    }
}

/// A test image shown in the report: the picture the encoder saw, its references and predictions.
public struct ReportSample: Sendable {
    public var image: String
    public var picturePNG: Data?
    public var references: [String]
    public var predictions: [SamplePrediction]

    public init(image: String, picturePNG: Data?, references: [String], predictions: [SamplePrediction]) {
        self.image = image
        self.picturePNG = picturePNG
        self.references = references
        self.predictions = predictions
    }
}

/// A self-contained HTML page (inline CSS, curves as inline SVG, pictures as base64 data URIs), so
/// it opens from disk in any browser, without a server or network.
public struct HTMLReport {
    public var title: String
    public var notes: [String]
    public var metricRows: [MetricRow]
    public var curvesSVG: String?
    public var samples: [ReportSample]

    public init(title: String, notes: [String] = [], metricRows: [MetricRow], curvesSVG: String? = nil, samples: [ReportSample] = []) {
        self.title = title
        self.notes = notes
        self.metricRows = metricRows
        self.curvesSVG = curvesSVG
        self.samples = samples
    }

    static let style = """
        body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1240px;color:#222;padding:0 16px}
        h1{font-size:26px;margin-bottom:4px}h2{font-size:20px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
        p.note{color:#555;margin:4px 0}
        table.metrics{border-collapse:collapse;font-variant-numeric:tabular-nums}
        table.metrics th,table.metrics td{border:1px solid #ccc;padding:5px 10px;text-align:right}
        table.metrics th:first-child,table.metrics td:first-child{text-align:left}
        table.metrics thead th{background:#f3f3f3;white-space:nowrap}td.best{font-weight:bold;background:#eef7ee}
        .sample{border:1px solid #ddd;border-radius:6px;padding:12px;margin:16px 0;display:flex;flex-wrap:wrap;gap:16px}
        .sample img.picture{width:224px;height:224px;image-rendering:auto;border:1px solid #ccc}
        .sample .text{flex:1;min-width:320px}.sample h3{margin:0 0 6px 0;font-size:15px;font-family:monospace}
        .sample ul{margin:4px 0 8px 18px;padding:0}.prediction{margin:6px 0}.prediction b{display:inline-block;min-width:190px}
        .attention{width:100%}.attention img{max-width:100%;border:1px solid #ddd}
        svg.curves{max-width:100%;height:auto}
        """

    public func render() -> String {
        var h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>\(HTML.escape(title))</title>"
        h += "<style>\(Self.style)</style></head><body>\n<h1>\(HTML.escape(title))</h1>\n"
        for note in notes { h += "<p class=\"note\">\(HTML.escape(note))</p>\n" }
        h += "<h2>Test-split metrics</h2>\n" + metricTable()
        if let curvesSVG {
            h += "<h2>Learning curves</h2>\n<div class=\"curves\">\(curvesSVG)</div>\n"
        }
        if !samples.isEmpty {
            h += "<h2>Sample test images</h2>\n"
            for sample in samples { h += sampleCard(sample) }
        }
        return h + "</body></html>\n"
    }

    /// The table; with several rows, the best value of each metric is highlighted.
    func metricTable() -> String {
        let scoreNames = metricRows.first?.scores.map(\.name) ?? []
        let factNames = metricRows.first?.facts.map(\.name) ?? []
        var best: [String: Double] = [:]
        if metricRows.count > 1 {
            for name in scoreNames {
                best[name] = metricRows.compactMap { row in row.scores.first { $0.name == name }?.value ?? nil }.max()
            }
        }
        var h = "<table class=\"metrics\"><thead><tr><th>model</th>"
        h += (scoreNames + factNames).map { "<th>\(HTML.escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for row in metricRows {
            h += "<tr><td>\(HTML.escape(row.label))</td>"
            for score in row.scores {
                let shown = score.value.map { String(format: "%.4f", $0) } ?? "n/a"
                let isBest = score.value != nil && score.value == best[score.name]
                h += "<td\(isBest ? " class=\"best\"" : "")>\(shown)</td>"
            }
            h += row.facts.map { "<td>\(HTML.escape($0.value))</td>" }.joined() + "</tr>\n"
        }
        return h + "</tbody></table>\n"
    }

    func sampleCard(_ sample: ReportSample) -> String {
        var h = "<div class=\"sample\">"
        if let png = sample.picturePNG {
            h += "<img class=\"picture\" alt=\"\(HTML.escape(sample.image))\" src=\"\(HTML.pngDataURI(png))\">"
        }
        h += "<div class=\"text\"><h3>\(HTML.escape(sample.image))</h3>"
        for prediction in sample.predictions {
            h += "<div class=\"prediction\"><b>\(HTML.escape(prediction.model))</b> \(HTML.escape(prediction.caption))</div>"
        }
        h += "<div>references:</div><ul>" + sample.references.map { "<li>\(HTML.escape($0))</li>" }.joined() + "</ul></div>"
        for prediction in sample.predictions {
            guard let png = prediction.attentionPNG else { continue }
            h += "<div class=\"attention\"><div>attention of \(HTML.escape(prediction.model)), word by word:</div>"
            h += "<img alt=\"attention of \(HTML.escape(prediction.model))\" src=\"\(HTML.pngDataURI(png))\"></div>"
        }
        return h + "</div>\n"
    }

    /// Writes the page atomically (temporary file, then rename).
    public func write(to url: URL) throws {
        try AtomicFile.write(render(), to: url)
    }
}
