import Foundation
import TensorCore
import Testing
import TestSupport

/// `ONEDNN_MAX_CPU_ISA=AVX2` makes an AVX-512 machine run the AVX2 paths (CPUFeatures), so one machine
/// tests both; `caption bench` says which ran.
@Suite struct InstructionSetTests {
    func benchJSON(_ environment: [String: String]) throws -> [String: Any] {
        let run = try runCaption(["bench", "--json", "--only", "gru_cell_b64_i256_h512_fwd_bwd_ms", "--seconds", "0.2"], environment: environment)
        #expect(run.status == 0, "\(run.stderr)")
        return try #require(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
    }

    @Test func theAVX2CapReachesEveryKernel() throws {
        let capped = try benchJSON(["ONEDNN_MAX_CPU_ISA": "AVX2"])
        #expect(capped["isa"] as? String == "avx2")
        #expect(capped["precision"] as? String == "fp32", "--precision auto must not pick bfloat16 on the AVX2 path")
        #expect((capped["gru_cell_b64_i256_h512_fwd_bwd_ms"] as? Double ?? 0) > 0)
        let uncapped = try benchJSON(["CAPTIONER_THREADS": ""])
        #expect(uncapped["threads"] as? Int == Threads.availableCores())
        #expect(uncapped["isa"] as? String == CPUFeatures.instructionSet)
    }

    /// `taskset -c 0` leaves this process one core: the team must be one thread, not the machine's count.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset") && ProcessInfo.processInfo.activeProcessorCount > 1))
    func theTeamFitsTheCPUAffinity() throws {
        // An empty CAPTIONER_THREADS leaves the count to the default (runCaption would pin it to 1).
        let run = try runCaption(["-c", "0", captionExecutable().path, "bench", "--json", "--only", "gru_cell_b64_i256_h512_fwd_bwd_ms", "--seconds", "0.2"],
                                 environment: ["CAPTIONER_THREADS": ""], executable: URL(fileURLWithPath: "/usr/bin/taskset"))
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["threads"] as? Int == 1)
    }
}
