@testable import Captioning
import Foundation
import Testing
import TestSupport
@testable import Reports

@Suite struct HTMLReportTests {
    static func history(_ losses: [Double]) -> [EpochRecord] {
        losses.enumerated().map { i, loss in
            EpochRecord(epoch: i + 1, trainLoss: loss, tokensPerSecond: 1000, seconds: 10, learningRate: 4e-4,
                        validation: ["BLEU-4": 0.1 * Double(i + 1), "CIDEr-D": 0.3 * Double(i + 1)])
        }
    }

    static func report(samples: Int) throws -> HTMLReport {
        let picture = try Canvas(width: 16, height: 16, fill: (200, 10, 10)).pngData()
        let figure = try Canvas(width: 40, height: 20, fill: (10, 200, 10)).pngData()
        let shown = (0..<samples).map { i in
            ReportSample(image: "0000\(i).png", picturePNG: picture, references: ["a red square <left> & \"quoted\"", "a square"],
                         predictions: [SamplePrediction(model: "soft-attention-gru", caption: "a red square", attentionPNG: figure)])
        }
        let scores: [(name: String, value: Double?)] = [("BLEU-4", 0.1234), ("METEOR", nil), ("CIDEr-D", 0.8765)]
        return HTMLReport(title: "test report", notes: ["a note"],
                          metricRows: [MetricRow(label: "soft-attention-gru", scores: scores, facts: [("parameters", "1.2M")]),
                                       MetricRow(label: "show-tell-gru", scores: [("BLEU-4", 0.1), ("METEOR", nil), ("CIDEr-D", 0.9)])],
                          curvesSVG: CurveChart.svg(histories: [("soft-attention-gru", history([3, 2, 1.5])), ("show-tell-gru", history([3, 2.5]))]),
                          samples: shown)
    }

    @Test func reportIsSelfContainedWithMetricsCurvesAndSamples() throws {
        let html = try Self.report(samples: 3).render()
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("0.1234") && html.contains("0.8765") && html.contains("n/a") && html.contains("1.2M"))
        // Each sample: its picture and its attention figure, embedded.
        #expect(html.components(separatedBy: "src=\"data:image/png;base64,").count - 1 == 6)
        #expect(html.components(separatedBy: "<div class=\"sample\">").count - 1 == 3)
        // Inline SVG curves: three charts (loss, BLEU-4, CIDEr-D), a line per model in each.
        #expect(html.contains("<svg") && html.components(separatedBy: "<polyline").count - 1 == 6)
        #expect(html.contains("training loss") && html.contains("validation BLEU-4") && html.contains("validation CIDEr-D"))
        // Nothing fetched from elsewhere.
        for external in ["http://", "https://", "<script", "<link", "src=\"/", "url("] {
            #expect(!html.contains(external), "the report must not reference \(external)")
        }
        // Text is escaped.
        #expect(html.contains("a red square &lt;left&gt; &amp; &quot;quoted&quot;"))
        // The best score of each metric is marked.
        #expect(html.contains("<td class=\"best\">0.1234</td>") && html.contains("<td class=\"best\">0.9000</td>"))
    }

    @Test func embeddedImagesAreValidPNG() throws {
        let html = try Self.report(samples: 1).render()
        let marker = "src=\"data:image/png;base64,"
        let start = html.range(of: marker)!.upperBound
        let end = html[start...].firstIndex(of: "\"")!
        let png = Data(base64Encoded: String(html[start..<end]))!
        #expect(Array(png.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
    }

    @Test func writesAtomically() throws {
        let temporary = try TemporaryDirectory("html"), directory = temporary.url
        let url = directory.appendingPathComponent("report.html")
        try Self.report(samples: 1).write(to: url)
        #expect(try String(contentsOf: url, encoding: .utf8).contains("test report"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["report.html"])
        #expect(throws: (any Error).self) { try Self.report(samples: 1).write(to: directory.appendingPathComponent("missing/report.html")) }
    }
}
