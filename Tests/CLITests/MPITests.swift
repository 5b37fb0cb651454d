import Captioning
import Foundation
import TensorCore
import Testing
import TestSupport

/// Open MPI's launcher, where this machine has it (`scripts/bootstrap` installs openmpi-bin).
let mpirun: URL? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].map(URL.init(fileURLWithPath:))
    .first { FileManager.default.isExecutableFile(atPath: $0.path) }

/// `mpirun -np 2 caption train|features` as users run it: two ranks at batch B train the model one
/// process trains at batch 2B, and extract the file one process extracts.
@Suite(.enabled(if: mpirun != nil, "mpirun is absent: install openmpi-bin (scripts/bootstrap does) to run the MPI tests"))
struct MPITests {
    let reliability: ReliabilityTests

    init() throws { reliability = try ReliabilityTests() }

    func path(_ name: String) -> String { reliability.path(name) }

    /// `caption ARGUMENTS` as `ranks` ranks of one mpirun (oversubscribed: the test machine may
    /// have fewer cores; each rank runs one kernel thread).
    func runRanks(_ ranks: Int, _ arguments: [String]) throws -> CaptionRun {
        try RunningCaption(ranksArguments(ranks, arguments), environment: mpiEnvironment, executable: mpirun!).wait()
    }

    func ranksArguments(_ ranks: Int, _ arguments: [String]) throws -> [String] {
        ["--oversubscribe", "-np", String(ranks), try captionExecutable().path] + arguments + ["--threads", "1"]
    }

    /// Open MPI refuses to start as root unless told; CI containers run as root.
    var mpiEnvironment: [String: String] {
        getuid() == 0 ? ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"] : [:]
    }

    /// The largest relative difference ‖a − b‖ / ‖a‖ between two models' weights. att_w.bias is left
    /// out: it adds the same number to every attention score, so softmax cancels it and its gradient
    /// is rounding noise, which Adam turns into steps of full size whatever the noise's sign.
    func weightDifference(_ a: String, _ b: String) throws -> Double {
        let (x, y) = (try SafeTensors.read(URL(fileURLWithPath: a)), try SafeTensors.read(URL(fileURLWithPath: b)))
        #expect(Set(x.tensors.keys) == Set(y.tensors.keys))
        var worst = 0.0
        for (key, tensor) in x.tensors where key != "att_w.bias" && !key.hasPrefix("optimizer.") {
            let (u, v) = (tensor.scalars, y.tensors[key]!.scalars)
            let difference = zip(u, v).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            let norm = u.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            worst = max(worst, difference / max(norm, 1e-12))
        }
        return worst
    }

    func losses(_ log: String) throws -> [Double] {
        try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(EpochRecord.self, from: Data($0.utf8)).trainLoss }
    }

    @Test func twoRanksTrainTheModelOneProcessTrainsAtTwiceTheBatch() throws {
        // Dropout and scheduled sampling on: both must draw for each caption what one process draws.
        let common = ["--scheduled-sampling", "0.5", "--precision", "fp32"]
        let one = try runCaption(reliability.trainArguments(out: path("one.safetensors"), epochs: 3, extra: common + ["--batch-size", "8"]))
        #expect(one.status == 0, "\(one.stderr)")
        let two = try runRanks(2, reliability.trainArguments(out: path("two.safetensors"), epochs: 3, extra: common + ["--batch-size", "4"]))
        #expect(two.status == 0, "\(two.stderr)")
        #expect(try weightDifference(path("one.safetensors"), path("two.safetensors")) <= 1e-3)
        for (a, b) in zip(try losses(path("one.safetensors.log.jsonl")), try losses(path("two.safetensors.log.jsonl"))) {
            #expect(abs(a - b) <= 1e-4 * abs(a), "epoch losses \(a) and \(b)")
        }
        // The leader alone reports: one header, one summary.
        #expect(two.stdout.components(separatedBy: "best model:").count == 2, "\(two.stdout)")
        #expect(two.stdout.contains("batches of 8 shared by 2 ranks of 1 threads"), "\(two.stdout)")

        // Self-critical training continues it the same way (each image samples from its own generator).
        let scst = ["--from", path("one.safetensors"), "--reward", "cider-d", "--samples", "3", "--baseline", "mean", "--epochs", "2"]
        let oneSC = try runCaption(reliability.trainArguments(out: path("one-sc.safetensors"), extra: common + scst + ["--batch-size", "8"]))
        #expect(oneSC.status == 0, "\(oneSC.stderr)")
        let twoSC = try runRanks(2, reliability.trainArguments(out: path("two-sc.safetensors"), extra: common + scst + ["--batch-size", "4"]))
        #expect(twoSC.status == 0, "\(twoSC.stderr)")
        #expect(try weightDifference(path("one-sc.safetensors"), path("two-sc.safetensors")) <= 1e-3)

        // A checkpoint of two ranks continues in one process (it holds the job's batch of 8), and
        // three ranks continue one process's: the same model either way. (Without scheduled sampling,
        // whose schedule depends on --epochs, which a resumed run may change.)
        let exact = ["--precision", "fp32"]
        let whole = try runCaption(reliability.trainArguments(out: path("whole.safetensors"), epochs: 3, extra: exact + ["--batch-size", "8"]))
        #expect(whole.status == 0, "\(whole.stderr)")
        let first = try runRanks(2, reliability.trainArguments(out: path("resumed.safetensors"), epochs: 1, extra: exact + ["--batch-size", "4"]))
        #expect(first.status == 0, "\(first.stderr)")
        let rest = try runCaption(reliability.trainArguments(out: path("resumed.safetensors"), epochs: 3, extra: exact + ["--resume"]))
        #expect(rest.status == 0, "\(rest.stderr)")
        #expect(try weightDifference(path("whole.safetensors"), path("resumed.safetensors")) <= 1e-3)
        let alone = try runCaption(reliability.trainArguments(out: path("three.safetensors"), epochs: 1, extra: exact + ["--batch-size", "8"]))
        #expect(alone.status == 0, "\(alone.stderr)")
        let three = try runRanks(3, reliability.trainArguments(out: path("three.safetensors"), epochs: 3, extra: exact + ["--resume"]))
        #expect(three.status == 0, "\(three.stderr)")
        #expect(three.stdout.contains("batches of 8 shared by 3 ranks"), "\(three.stdout)")
        #expect(try weightDifference(path("whole.safetensors"), path("three.safetensors")) <= 1e-3)
    }

    /// `mpirun -np 1 A : -np 1 B`: one rank running A, the other B.
    func runTwoPrograms(_ first: [String], _ second: [String]) throws -> CaptionRun {
        let caption = try captionExecutable().path
        return try RunningCaption(["--oversubscribe", "-np", "1", caption] + first + [":", "-np", "1", caption] + second,
                                  environment: mpiEnvironment, timeout: .seconds(120), executable: mpirun!).wait()
    }

    @Test func ranksWithTeamsOfDifferentSizesTrainTheSameModel() throws {
        let exact = ["--precision", "fp32", "--batch-size", "4"]
        let one = try runCaption(reliability.trainArguments(out: path("alone.safetensors"), epochs: 2, extra: ["--precision", "fp32", "--batch-size", "8"]))
        #expect(one.status == 0, "\(one.stderr)")
        let arguments = reliability.trainArguments(out: path("teams.safetensors"), epochs: 2, extra: exact)
        let two = try runTwoPrograms(arguments + ["--threads", "1"], arguments + ["--threads", "2"])
        #expect(two.status == 0, "\(two.stderr)")
        #expect(try weightDifference(path("alone.safetensors"), path("teams.safetensors")) <= 1e-3)
    }

    @Test func ranksAboutToTrainDifferentRunsStopWithOneSentence() throws {
        let out = path("mismatch.safetensors")
        let run = try runTwoPrograms(reliability.trainArguments(out: out, epochs: 2, extra: ["--seed", "5", "--threads", "1"]),
                                     reliability.trainArguments(out: out, epochs: 2, extra: ["--seed", "6", "--threads", "1"]))
        #expect(run.status == 1, "\(run.stderr)")
        let sentence = "rank 1 is not about to train what rank 0 is (its settings, weights differ)"
        #expect(run.stderr.components(separatedBy: sentence).count == 2, "reported once: \(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        // A command line wrong on one rank only: that rank says so and stops the job (no rank waits for ever).
        let half = try runTwoPrograms(reliability.trainArguments(out: out, epochs: 2, extra: ["--threads", "1"]),
                                      reliability.trainArguments(out: out, epochs: 2, extra: ["--threads", "1", "--lr", "-1"]))
        #expect(half.status != 0 && !half.timedOut)
        #expect(half.stderr.contains("caption (rank 1 of 2): Error: --lr must be a finite number above 0"), "\(half.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func sigusr1ToMpirunStopsEveryRankAtOneStepWithACheckpoint() throws {
        let out = path("stopped.safetensors")
        // The test runner's threads block SIGUSR1 and a child inherits the mask; a user's shell blocks nothing.
        var usr1 = sigset_t(), mask = sigset_t()
        sigemptyset(&usr1)
        sigaddset(&usr1, SIGUSR1)
        pthread_sigmask(SIG_UNBLOCK, &usr1, &mask)
        defer { pthread_sigmask(SIG_SETMASK, &mask, nil) }
        let job = try RunningCaption(try ranksArguments(2, reliability.trainArguments(out: out, epochs: 100_000)),
                                     environment: mpiEnvironment, executable: mpirun!)
        #expect(eventually { FileManager.default.fileExists(atPath: out + ".log.jsonl") }, "an epoch finished")
        job.signal(SIGUSR1)
        let run = job.wait()
        #expect(run.status == 130, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("interrupted: checkpoint written to"), "\(run.stdout)")
        let resumed = try runCaption(reliability.trainArguments(out: out, epochs: 1, extra: ["--resume"]))
        #expect(resumed.status == 0, "\(resumed.stderr)")
    }

    @Test func twoRanksExtractTheFeaturesOneRunExtracts() throws {
        let shapes = path("shapes")
        #expect(try runCaption(["synth", "--out", shapes, "--images", "10", "--seed", "4"]).status == 0)
        let one = try runCaption(["features", "--data", shapes, "--out", path("one-features.safetensors"), "--batch-size", "4"])
        #expect(one.status == 0, "\(one.stderr)")
        let two = try runRanks(2, ["features", "--data", shapes, "--out", path("two-features.safetensors"), "--batch-size", "4"])
        #expect(two.status == 0, "\(two.stderr)")
        #expect(two.stdout.contains("joined the features of 10 images from 2 ranks"), "\(two.stdout)")
        let (a, b) = (try FeatureStore(URL(fileURLWithPath: path("one-features.safetensors"))),
                      try FeatureStore(URL(fileURLWithPath: path("two-features.safetensors"))))
        #expect(a.count == 10 && b.count == 10)
        let rows = Array(0..<10)
        #expect(a.features(rows: rows).pooled.scalars == b.features(rows: rows).pooled.scalars)
        #expect(a.features(rows: rows).grid?.scalars == b.features(rows: rows).grid?.scalars)
        #expect(a.images == b.images)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: reliability.dir.path).filter { $0.contains(".rank-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
        let shard = try runRanks(2, ["features", "--data", shapes, "--out", path("x.safetensors"), "--shard", "0/2"])
        #expect(shard.status != 0 && shard.stderr.components(separatedBy: "--shard is the rank's under mpirun").count == 2, "once: \(shard.stderr)")
        let missing = try runRanks(2, ["features", "--images", path("no-such-folder"), "--out", path("y.safetensors")])
        #expect(missing.status == 1 && missing.stderr.components(separatedBy: "cannot list").count == 2, "once: \(missing.stderr)")
    }

    @Test func commandsThatDoNotShareWorkRefuseToRunUnderMpirun() throws {
        let run = try runRanks(2, ["evaluate", "--model", path("none.safetensors"), "--data", reliability.dir.path])
        #expect(run.status != 0)
        let sentence = "caption evaluate runs in one process; under mpirun only caption train and caption features share their work"
        #expect(run.stderr.components(separatedBy: sentence).count == 2, "reported once: \(run.stderr)")
        let help = try runRanks(2, ["train", "--help"])
        #expect(help.status == 0 && help.stdout.components(separatedBy: "OVERVIEW:").count == 2, "help printed once: \(help.stdout) \(help.stderr)")
        // A flag every rank rejects is reported once, by rank 0.
        let bad = try runRanks(2, reliability.trainArguments(out: path("bad.safetensors"), extra: ["--lr", "-1"]))
        #expect(bad.status != 0)
        #expect(bad.stderr.components(separatedBy: "--lr").count == 2, "reported once: \(bad.stderr)")
        // So is a check made after parsing, against the files.
        let resume = try runRanks(2, reliability.trainArguments(out: path("never.safetensors"), extra: ["--resume"]))
        #expect(resume.status != 0)
        #expect(resume.stderr.components(separatedBy: "does not exist; start without --resume").count == 2, "reported once: \(resume.stderr)")
        #expect(!resume.stderr.contains("MPI_ABORT"), "\(resume.stderr)")
    }
}


/// Whether this machine lets the tests make network namespaces (root, iproute2, the capability).
let canMakeNetworkNamespaces: Bool = {
    guard mpirun != nil, getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") else { return false }
    let probe = Process()
    probe.executableURL = URL(fileURLWithPath: "/bin/sh")
    probe.arguments = ["-c", "ip netns add capprobe 2>/dev/null && ip netns del capprobe"]
    guard (try? probe.run()) != nil else { return false }
    probe.waitUntilExit()
    return probe.terminationStatus == 0
}()

/// `scripts/netns-cluster`: two ranks in two network namespaces, so the gradients cross TCP through
/// the kernel (no shared memory), train the model two ranks train on one host.
@Suite(.enabled(if: canMakeNetworkNamespaces, "needs root, iproute2 and mpirun to make network namespaces"), .serialized)
struct NetworkNamespaceTests {
    @Test func twoRanksInTwoNetworkNamespacesTrainTheSameModel() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/netns-cluster")
        let mpi = try MPITests(), reliability = try ReliabilityTests()
        _ = try runCaption(["down"], executable: script)
        let up = try runCaption(["up"], executable: script)
        #expect(up.status == 0, "\(up.stderr)")
        defer { _ = try? runCaption(["down"], executable: script) }
        func sent() throws -> Int {
            let read = try runCaption(["netns", "exec", "capnode0", "cat", "/sys/class/net/capveth0/statistics/tx_bytes"],
                                      executable: URL(fileURLWithPath: "/usr/sbin/ip"))
            return Int(read.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
        let before = try sent()
        let arguments = reliability.trainArguments(out: reliability.path("netns.safetensors"), epochs: 2, extra: ["--batch-size", "4", "--precision", "fp32"])
        let across = try runCaption(["mpirun", try captionExecutable().path] + arguments + ["--threads", "1"], executable: script)
        #expect(across.status == 0, "\(across.stderr)")
        // 36 steps, each sending the 15,651 gradients (62.6 kB) at least once.
        #expect(try sent() - before > 36 * 62_604, "the gradients crossed capveth0")
        let local = try mpi.runRanks(2, reliability.trainArguments(out: reliability.path("local.safetensors"), epochs: 2,
                                                                   extra: ["--batch-size", "4", "--precision", "fp32"]))
        #expect(local.status == 0, "\(local.stderr)")
        #expect(try mpi.weightDifference(reliability.path("netns.safetensors"), reliability.path("local.safetensors")) <= 1e-3)
    }
}
