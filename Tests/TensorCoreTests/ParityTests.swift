import Foundation
import Testing
import TestSupport
@testable import TensorCore

/// Every op against PyTorch (float64 references from tools/reference/make_fixtures.py):
/// forward to 1e-5 and every input's gradient to 1e-4, relative to the tensor's largest magnitude.
@Suite struct OpParityTests {
    typealias Forward = (_ inputs: [String: Tensor], _ ints: [String: IntTensor]) -> [Tensor]

    static let cases: [String: Forward] = [
        "matmul": { i, _ in [matmul(i["a"]!, i["b"]!)] },
        "matmul_ta": { i, _ in [matmul(i["a"]!, i["b"]!, transposeA: true)] },
        "matmul_tb": { i, _ in [matmul(i["a"]!, i["b"]!, transposeB: true)] },
        "matmul_tab": { i, _ in [matmul(i["a"]!, i["b"]!, transposeA: true, transposeB: true)] },
        "bmm": { i, _ in [matmul(i["a"]!, i["b"]!)] },
        "bmm_tb": { i, _ in [matmul(i["a"]!, i["b"]!, transposeB: true)] },
        "linear": { i, _ in [linear(i["x"]!, weight: i["w"]!, bias: i["b"]!)] },
        "add": { i, _ in [i["a"]! + i["b"]!] },
        "add_mid": { i, _ in [i["a"]! + i["b"]!] },
        "sub": { i, _ in [i["a"]! - i["b"]!] },
        "mul": { i, _ in [i["a"]! * i["b"]!] },
        "div": { i, _ in [i["a"]! / i["b"]!] },
        "scale": { i, _ in [i["a"]! * -2.5] },
        "shift": { i, _ in [1 - i["a"]!] },
        "sum1": { i, _ in [i["x"]!.sum(axis: 1)] },
        "mean0k": { i, _ in [i["x"]!.mean(axis: 0, keepDims: true)] },
        "sumall": { i, _ in [i["x"]!.sum()] },
        "meanall": { i, _ in [i["x"]!.mean()] },
        "tanh": { i, _ in [i["x"]!.tanh()] },
        "sigmoid": { i, _ in [i["x"]!.sigmoid()] },
        "relu": { i, _ in [i["x"]!.relu()] },
        "exp": { i, _ in [i["x"]!.exp()] },
        "log": { i, _ in [i["x"]!.log()] },
        "softmax_last": { i, _ in [i["x"]!.softmax(axis: -1)] },
        "softmax_mid": { i, _ in [i["x"]!.softmax(axis: 1)] },
        "logsoftmax": { i, _ in [i["x"]!.logSoftmax(axis: -1)] },
        "concat": { i, _ in [concat([i["a"]!, i["b"]!], axis: 1)] },
        "slice": { i, _ in [i["x"]!.slice(axis: 1, start: 1, length: 2)] },
        "permute": { i, _ in [i["x"]!.permuted([2, 0, 1])] },
        "reshape": { i, _ in [i["x"]!.reshaped([6, 4])] },
        "gather": { i, n in [gatherRows(i["table"]!, n["ids"]!)] },
        "cross_entropy": { i, n in [crossEntropy(i["logits"]!, targets: n["t"]!, ignoreIndex: 0)] },
        "attention_penalty": { i, _ in
            let covered = (i["alphas"]! * i["mask"]!).sum(axis: 1)          // [B, L]
            let shortfall = 1 - covered
            return [(shortfall * shortfall).sum(axis: 1).mean()]
        },
        "gru_cell": { i, _ in [gruCell(i["x"]!, i["h"]!, weightIH: i["w_ih"]!, weightHH: i["w_hh"]!, biasIH: i["b_ih"]!, biasHH: i["b_hh"]!)] },
        "lstm_cell": { i, _ in
            let (h, c) = lstmCell(i["x"]!, i["h"]!, i["c"]!, weightIH: i["w_ih"]!, weightHH: i["w_hh"]!, biasIH: i["b_ih"]!, biasHH: i["b_hh"]!)
            return [h, c]
        },
        "gru_seq": { i, _ in [gruSequence(i["x"]!, i["h0"]!, weightIH: i["w_ih"]!, weightHH: i["w_hh"]!, biasIH: i["b_ih"]!, biasHH: i["b_hh"]!)] },
        "lstm_seq": { i, _ in
            let (y, c) = lstmSequence(i["x"]!, i["h0"]!, i["c0"]!, weightIH: i["w_ih"]!, weightHH: i["w_hh"]!, biasIH: i["b_ih"]!, biasHH: i["b_hh"]!)
            return [y, c]
        },
    ]

    static let fixtures = try! TensorCoreTests.fixtures.safetensors("ops.safetensors")

    @Test func everyFixtureCaseHasAnImplementation() {
        let names = Set(Self.fixtures.tensors.keys.map { String($0.split(separator: "/")[0]) })
        #expect(names == Set(Self.cases.keys))
        #expect(names.count >= 37)
    }

    @Test(arguments: Self.cases.keys.sorted())
    func matchesPyTorch(_ name: String) throws {
        let f = Self.fixtures
        var inputs: [String: Tensor] = [:], ints: [String: IntTensor] = [:]
        var upstream: [Int: Tensor] = [:], expectedOut: [Int: Tensor] = [:], expectedGrad: [String: Tensor] = [:]
        for (key, t) in f.tensors where key.hasPrefix("\(name)/") {
            let field = key.dropFirst(name.count + 1)
            let parts = field.split(separator: ".", maxSplits: 1).map(String.init)
            switch parts[0] {
            case "in": inputs[parts[1]] = t.copy()
            case "up": upstream[Int(parts[1])!] = t
            case "out": expectedOut[Int(parts[1])!] = t
            case "grad": expectedGrad[parts[1]] = t
            default: Issue.record("unknown fixture field \(key)")
            }
        }
        for (key, t) in f.integers where key.hasPrefix("\(name)/int.") { ints[String(key.dropFirst(name.count + 5))] = t }
        for t in inputs.values { t.requiresGrad = true }

        let tape = Tape()
        let outputs = tape.record { Self.cases[name]!(inputs, ints) }
        #expect(outputs.count == expectedOut.count)
        for (i, o) in outputs.enumerated() { expectClose(o, expectedOut[i], tolerance: 1e-5, "\(name) output \(i)") }
        let loss = tape.record { weightedSum(outputs, (0..<outputs.count).map { upstream[$0]! }) }
        tape.backward(from: loss)
        for (k, x) in inputs { expectClose(x.grad, expectedGrad[k], tolerance: 1e-4, "\(name) gradient of \(k)") }
    }
}
