import Foundation
import Testing
import TestSupport

/// `caption bench` runs the workloads it names and refuses keys it does not know.
@Suite struct BenchCommandTests {
    @Test func theDecodingWorkloadsRunAndReportTheirFigures() throws {
        let keys = ["beam3_showtell_gru_ms", "beam3_soft_attention_gru_v2538_ms", "beam3_adaptive_attention_gru_v2538_ms",
                    "greedy_showtell_gru_b64_captions_per_s"]
        let run = try runCaption(["bench", "--json", "--iterations", "1", "--only"] + keys)
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        for key in keys { #expect((object[key] as? Double ?? 0) > 0, "\(key)") }
        #expect(object["load"] as? Int == 0 && object["threads"] as? Int == 1)
    }

    @Test func theServeWorkloadCaptionsThroughTheHTTPRoute() throws {
        let run = try runCaption(["bench", "--json", "--iterations", "2", "--only", "serve_one_client_ms"])
        #expect(run.status == 0, "\(run.stderr)")
        if run.stderr.contains("skipped") && run.stderr.contains("bootstrap") { return }  // no encoder weights on this machine
        let object = try #require(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let milliseconds = try #require(object["serve_one_client_ms"] as? Double, "\(run.stdout)")
        #expect(milliseconds > 0 && milliseconds < 10_000)
    }

    @Test func anUnknownKeyIsRefusedWithTheKnownOnes() throws {
        let run = try runCaption(["bench", "--only", "beam3_made_up_ms"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("beam3_made_up_ms") && run.stderr.contains("beam3_soft_attention_gru_v2538_ms"))
    }
}
