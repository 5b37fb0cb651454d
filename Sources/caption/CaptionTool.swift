import ArgumentParser

@main
struct CaptionTool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caption",
        abstract: "Train, evaluate and serve image captioning models.",
        subcommands: [Synth.self, Features.self, Train.self, Predict.self, Evaluate.self, Compare.self, Attend.self, Report.self,
                      Classify.self, Import.self, Export.self, Pack.self, Bench.self, Serve.self])
}
