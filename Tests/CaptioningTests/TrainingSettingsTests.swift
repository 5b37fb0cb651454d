import Foundation
import Layers
import Testing
@testable import Captioning

/// `TrainingSettings` is stored in every model file's provenance and every checkpoint, so files
/// written before a setting existed must still load, with that setting at its default.
@Suite struct TrainingSettingsTests {
    @Test func modelFilesWithoutNewerSettingsLoadWithDefaults() throws {
        let older = #"{"architecture":"show-tell-lstm","epochs":7,"batchSize":32,"learningRate":0.001,"seed":3,"minCount":5,"#
            + #""maxWords":30,"embeddingSize":128,"hiddenSize":256,"attentionSize":64,"dropout":0.3,"gradientClip":5,"#
            + #""scheduledSampling":0,"earlyStoppingPatience":4}"#
        let settings = try JSONDecoder().decode(TrainingSettings.self, from: Data(older.utf8))
        #expect(settings.architecture == .showTellLSTM && settings.epochs == 7 && settings.hiddenSize == 256 && settings.dropout == 0.3)
        #expect(settings.plateauFactor == 0.8 && settings.plateauPatience == 1 && settings.monitor == nil && settings.selfCritical == nil)
        #expect(settings.monitoredMetric == "BLEU-4")
    }

    @Test func roundTripsThroughJSON() throws {
        var settings = TrainingSettings()
        settings.monitor = "CIDEr-D"
        settings.plateauPatience = 3
        settings.timeBudget = 60
        settings.selfCritical = SelfCriticalOptions(samples: 4, baseline: .mean, temperature: 1, maxWords: 16)
        let again = try JSONDecoder().decode(TrainingSettings.self, from: JSONEncoder().encode(settings))
        #expect(again == settings)
    }

    @Test func checkpointsKeepTheirTrainerStateKey() throws {
        // Checkpoints have always stored the settings under "options"; an older one holds only the
        // trainer's fields there.
        var state = TrainerState(settings: TrainingSettings(), plateau: PlateauSchedule(rate: 0.01))
        (state.epoch, state.step, state.optimizerStep) = (1, 2, 3)
        var object = try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(state)) as? [String: Any])
        #expect(object["options"] != nil)
        object["options"] = ["epochs": 4, "batchSize": 5, "learningRate": 0.01, "gradientClip": 5, "seed": 1, "scheduledSampling": 0,
                             "plateauFactor": 0.5, "plateauPatience": 2, "earlyStoppingPatience": 4, "monitor": "BLEU-4"] as [String: Any]
        let older = try JSONDecoder().decode(TrainerState.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(older.settings.epochs == 4 && older.settings.plateauFactor == 0.5 && older.settings.monitor == "BLEU-4")
        #expect(older.settings.architecture == .softAttentionGRU && older.settings.hiddenSize == 512)
        #expect(older.epoch == 1 && older.step == 2 && older.optimizerStep == 3)
        #expect(older.team == nil, "checkpoints from before the team was recorded choose it again")
    }

    /// A resumed run trains on the team the run started with, so it ends with the same weights.
    @Test func checkpointsRecordTheTeam() throws {
        var state = TrainerState(settings: TrainingSettings(), plateau: PlateauSchedule(rate: 0.01))
        state.team = 3
        let decoded = try JSONDecoder().decode(TrainerState.self, from: JSONEncoder().encode(state))
        #expect(decoded.team == 3 && decoded == state)
    }
}
