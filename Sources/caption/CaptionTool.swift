import ArgumentParser
import Captioning
import Cluster
import Foundation

@main
struct CaptionTool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caption",
        abstract: "Train, evaluate and serve image captioning models.",
        subcommands: [Synth.self, Features.self, Train.self, Predict.self, Evaluate.self, Compare.self, Attend.self, Report.self,
                      Classify.self, Import.self, Export.self, Pack.self, Bench.self, Serve.self])

    /// The MPI job this process is a rank of, when `mpirun` or `srun` started it.
    nonisolated(unsafe) static var job: MPIGroup?
    /// The processes sharing this command's work: the job's ranks, or this process alone.
    static var group: ProcessGroup { job ?? SingleProcess() }

    /// ArgumentParser's entry point, plus joining an MPI job first and leaving it last: only
    /// `caption train` and `caption features` share work between ranks, and a rank that fails stops
    /// the job (its partners would wait for it forever).
    static func main() async {
        // A parent may start a process with signals blocked (the mask is inherited), which would hold
        // Ctrl-C pending for ever: the stop signals reach every command.
        var stops = sigset_t()
        sigemptyset(&stops)
        for number in [SIGINT, SIGTERM, SIGHUP, SIGUSR1] { sigaddset(&stops, number) }
        pthread_sigmask(SIG_UNBLOCK, &stops, nil)
        do {
            job = try MPIGroup.join()
        } catch {
            exit(withError: error)
        }
        var command: ParsableCommand
        do {
            command = try agreeOnTheCommand()
        } catch {
            end(with: error)
        }
        do {
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            end(with: error)
        }
        job?.finish()
    }

    /// Every rank leaves with `code` once rank 0 has said `message`: the others wait for it, so mpirun
    /// does not print its report of their exit in the middle of rank 0's sentence.
    static func leaveTogether(code: Int32, leaderSays message: String, on handle: FileHandle) -> Never {
        if let job, job.isLeader, !message.isEmpty { handle.write(Data((message + "\n").utf8)) }
        job?.barrier()
        job?.finish()
        Foundation.exit(code)
    }

    /// Parses the command line; in a job, the ranks agree on it (`agree`) before any of them starts.
    static func agreeOnTheCommand() throws -> ParsableCommand {
        try agree {
            let command = try parseAsRoot()
            // (`--help` parses as ArgumentParser's own help command, which every rank may run.)
            if let job, job.size > 1, !(command is Train || command is FeaturesExtract || type(of: command)._commandName == "help") {
                throw ValidationError("caption \(type(of: command)._commandName) runs in one process; under mpirun only caption train and caption features share their work: run it without mpirun.")
            }
            return command
        }
    }

    /// Runs `body` on every rank of a job and makes them agree on how it went before any goes on.
    /// When it failed on every rank (a wrong flag, --help, a missing file), rank 0 alone reports and
    /// all leave (`Unanimous`). When it failed on only some (`mpirun -np 1 A : -np 1 B`, or a file
    /// one machine lacks), those report with their rank and abort the job, so no rank waits for ever.
    static func agree<T>(_ body: () throws -> T) throws -> T {
        var outcome: Result<T, Error>
        do { outcome = .success(try body()) } catch { outcome = .failure(error) }
        guard let job, job.size > 1 else { return try outcome.get() }
        var failedHere: Int32 = 0
        if case .failure = outcome { failedHere = 1 }
        let failures = job.gather([failedHere]).reduce(0) { $0 + Int($1[0]) }
        switch outcome {
        case .success(let value):
            if failures == 0 { return value }
            throw GroupFailure("")   // another rank failed: it reports and stops the job
        case .failure(let error):
            throw failures == job.size ? Unanimous(error: error) : error
        }
    }

    /// An error every rank of the job met: rank 0 reports it as ArgumentParser would, all leave.
    struct Unanimous: Error { let error: Error }

    /// Every rank reaches a clean stop (help, Ctrl-C's exit status), a `GroupFailure` or an
    /// `Unanimous` error together: the leader reports it and all leave the job. Any other error may be this rank's alone, so it is
    /// printed with the rank and the job is aborted.
    static func end(with error: Error) -> Never {
        guard let job, job.size > 1 else {
            job?.finish()
            exit(withError: error)
        }
        if let unanimous = error as? Unanimous {
            let code = exitCode(for: unanimous.error).rawValue
            leaveTogether(code: code, leaderSays: fullMessage(for: unanimous.error), on: code == 0 ? .standardOutput : .standardError)
        }
        let code = exitCode(for: error).rawValue
        let message = fullMessage(for: error)
        if let failure = error as? GroupFailure {
            leaveTogether(code: 1, leaderSays: failure.description.isEmpty ? "" : "Error: \(failure.description)", on: .standardError)
        }
        if code == 0 || (error is ExitCode && message.isEmpty) {
            if job.isLeader && !message.isEmpty { print(message) }
            job.finish()
            Foundation.exit(code)
        }
        FileHandle.standardError.write(Data("caption (rank \(job.rank) of \(job.size)): \(message)\n".utf8))
        job.abort(code: code)
    }
}
