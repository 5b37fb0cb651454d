import ArgumentParser
import CaptionData
import Foundation

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render the built-in Shapes dataset (SPEC §4) in the Flickr8k Kaggle layout.",
        discussion: """
        Writes DIR/Images/*.png (224×224 scenes of one to three coloured shapes), DIR/captions.txt (five captions \
        per image, header image,caption) and DIR/splits/{train,val,test}.txt (80/10/10). The same seed gives \
        byte-identical output. --relations makes most captions hinge on where the shapes are.
        """)

    @Option(name: [.short, .customLong("out")], help: "Output folder.") var out: String
    @Option(parsing: .unconditional, help: "Number of images.") var images = 2000
    @Option(parsing: .unconditional, help: "Seed.") var seed: UInt64 = 1
    @Flag(help: "Relation-heavy captions (left of, above, next to, …).") var relations = false

    func validate() throws {
        try OptionCheck.integer(images, "--images", 10...10_000_000)
    }

    func run() throws {
        try OutputPath.checkDirectory(out, option: "--out")
        let bar = ProgressBar("synth", total: images, unit: "images")
        try writeShapesDataset(to: URL(fileURLWithPath: out), images: images, seed: seed, relations: relations) { done in
            bar.update(done)
        }
        bar.finish()
        print("wrote \(images) images with 5 captions each to \(out)")
    }
}
