import Foundation
import Testing
import TestSupport
import TensorCore
@testable import Layers

/// The committed fixtures of this test target.
let fixtures = Fixtures(bundle: .module)

/// The tensors stored under `prefix` with the prefix removed.
func entries(_ f: SafeTensors, _ prefix: String) -> [String: Tensor] {
    Dictionary(uniqueKeysWithValues: f.tensors.filter { $0.key.hasPrefix(prefix) }.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
}

/// Each layer built from PyTorch's state dict through `ParameterSource`, run forward and backward:
/// outputs to 1e-5, gradients of every parameter and input to 1e-4.
@Suite struct LayerParityTests {
    static let f = try! fixtures.safetensors("layers.safetensors")

    func run(_ name: String, build: (ParameterSource) throws -> Module, call: (Module, [String: Tensor], [String: IntTensor]) -> [Tensor]) throws {
        let f = Self.f
        let source = ParameterSource.load(entries(f, "\(name)/param."), origin: "\(name) fixture")
        let module = try build(source)
        try source.finish()
        var inputs = entries(f, "\(name)/in.").mapValues { $0.copy() }
        for t in inputs.values { t.requiresGrad = true }
        let ints = Dictionary(uniqueKeysWithValues: f.integers.filter { $0.key.hasPrefix("\(name)/in.") }
            .map { (String($0.key.dropFirst(name.count + 4)), $0.value) })
        if inputs.isEmpty { inputs = [:] }
        let tape = Tape()
        let outputs = tape.record { call(module, inputs, ints) }
        var loss: Tensor?
        tape.record {
            for (i, o) in outputs.enumerated() {
                expectClose(o, f["\(name)/out.\(i)"], tolerance: 1e-5, "\(name) output \(i)")
                let term = (o * f["\(name)/up.\(i)"]!.reshaped(o.shape)).sum()
                loss = loss.map { $0 + term } ?? term
            }
        }
        tape.backward(from: loss!)
        for (key, p) in module.namedParameters {
            expectClose(p.grad, f["\(name)/grad.param.\(key)"], tolerance: 1e-4, "\(name) gradient of \(key)")
        }
        for (key, x) in inputs { expectClose(x.grad, f["\(name)/grad.in.\(key)"], tolerance: 1e-4, "\(name) gradient of input \(key)") }
    }

    @Test func linear() throws {
        try run("linear", build: { try Linear(6, 4, source: $0) }, call: { m, i, _ in [(m as! Linear)(i["x"]!)] })
    }

    @Test func embedding() throws {
        try run("embedding", build: { try Embedding(7, 3, source: $0) }, call: { m, _, n in [(m as! Embedding)(n["ids"]!)] })
    }

    @Test func gruCell() throws {
        try run("gru_cell", build: { try GRUCell(inputSize: 5, hiddenSize: 4, source: $0) },
                call: { m, i, _ in [(m as! GRUCell)(i["x"]!, i["h"]!)] })
    }

    @Test func lstmCell() throws {
        try run("lstm_cell", build: { try LSTMCell(inputSize: 5, hiddenSize: 4, source: $0) },
                call: { m, i, _ in let s = (m as! LSTMCell)(i["x"]!, (i["h"]!, i["c"]!)); return [s.h, s.c] })
    }

    @Test func gru() throws {
        try run("gru", build: { try GRU(inputSize: 5, hiddenSize: 4, source: $0) },
                call: { m, i, _ in [(m as! GRU)(i["x"]!, i["h"]!)] })
    }

    @Test func lstm() throws {
        try run("lstm", build: { try LSTM(inputSize: 5, hiddenSize: 4, source: $0) },
                call: { m, i, _ in let r = (m as! LSTM)(i["x"]!, (i["h"]!, i["c"]!)); return [r.y, r.c] })
    }

    @Test func sequenceLayerAndItsStepAgree() throws {
        let gru = try GRU(inputSize: 3, hiddenSize: 5, source: .initialise(seed: 1))
        var rng = RandomGenerator(seed: 2)
        let x = Tensor.randn([2, 4, 3], rng: &rng), h0 = Tensor.randn([2, 5], rng: &rng)
        let y = gru(x, h0)
        var h = h0
        for t in 0..<4 { h = gru.step(x.slice(axis: 1, start: t, length: 1).squeezed(axis: 1), h) }
        expectClose(h, y.slice(axis: 1, start: 3, length: 1), tolerance: 1e-6, "last step")
    }
}

@Suite struct ModuleTests {
    @Test func stateDictKeysAreTorchNames() throws {
        let gru = try GRU(inputSize: 3, hiddenSize: 4, source: .initialise(seed: 0))
        #expect(gru.namedParameters.map(\.name) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"])
        let cell = try LSTMCell(inputSize: 3, hiddenSize: 4, source: .initialise(seed: 0))
        #expect(prefixed("cell", cell).map(\.name) == ["cell.weight_ih", "cell.weight_hh", "cell.bias_ih", "cell.bias_hh"])
        #expect(cell.parameterCount == 16 * 3 + 16 * 4 + 32)
    }

    @Test func initialisationFollowsPyTorchBoundsAndSeed() throws {
        let a = try Linear(100, 50, source: .initialise(seed: 5))
        let b = try Linear(100, 50, source: .initialise(seed: 5))
        #expect(a.weight.scalars == b.weight.scalars)
        #expect(a.weight.scalars.allSatisfy { abs($0) <= 0.1 })
        #expect(a.weight.scalars.contains { abs($0) > 0.09 })
        let e = try Embedding(1000, 10, source: .initialise(seed: 5))
        #expect(e.weight.scalars.contains { abs($0) > 2 })     // N(0, 1), not a bounded uniform
    }

    @Test func loadingChecksEveryKeyAndShape() throws {
        let lin = try Linear(3, 2, source: .initialise(seed: 0))
        var state = lin.stateDict().mapValues { $0.copy() }
        try lin.loadStateDict(state)
        state["bias"] = Tensor(zeros: [3])
        #expect(throws: WeightError.shape(key: "bias", expected: [2], found: [3], origin: "model.safetensors")) {
            try lin.loadStateDict(state, origin: "model.safetensors")
        }
        state["bias"] = nil
        #expect(throws: WeightError.missing(key: "bias", origin: "x")) { try lin.loadStateDict(state, origin: "x") }
        state["bias"] = Tensor(zeros: [2]); state["extra"] = Tensor(zeros: [1])
        #expect(throws: WeightError.unexpected(key: "extra", count: 1, origin: "x")) { try lin.loadStateDict(state, origin: "x") }
        let source = ParameterSource.load(state, origin: "x")
        _ = try Linear(3, 2, source: source)
        #expect(throws: WeightError.self) { try source.finish() }
        #expect(throws: WeightError.self) { _ = try Linear(4, 2, source: .load(state, origin: "x")) }
        let message = WeightError.shape(key: "out.weight", expected: [3000, 512], found: [2000, 512], origin: "m.safetensors").description
        #expect(message.contains("m.safetensors") && message.contains("out.weight"))
    }

    @Test func aRegistryRecordsEveryParameterTakenUnderItsKeyRelativeToWhereItIsRooted() throws {
        let (outer, inner) = (ParameterRegistry(), ParameterRegistry())
        let root = ParameterSource.initialise(seed: 3).child("model").registering(into: outer)
        let embed = try Embedding(5, 2, source: root.child("embed"))
        let cell = try GRUCell(inputSize: 2, hiddenSize: 3, source: root.child("block").registering(into: inner).child("cell"))
        #expect(outer.named.map(\.name) == ["embed.weight", "block.cell.weight_ih", "block.cell.weight_hh",
                                            "block.cell.bias_ih", "block.cell.bias_hh"])
        #expect(inner.named.map(\.name) == ["cell.weight_ih", "cell.weight_hh", "cell.bias_ih", "cell.bias_hh"])
        #expect(outer.named[0].tensor === embed.weight && inner.named[0].tensor === cell.weights.weightIH)
    }

    @Test func dropoutModuleFollowsTrainingFlag() throws {
        let d = Dropout(0.5, generator: RandomGenerator(seed: 1))
        let x = Tensor(shape: [100], repeating: 1)
        #expect(d(x).scalars.contains(0))
        d.setTraining(false)
        #expect(d(x).scalars.allSatisfy { $0 == 1 })
    }
}
