import Foundation
import Testing
import TestSupport
import TensorCore
@testable import Layers

/// Optimizers against three PyTorch steps on the same gradients (float32 both sides).
@Suite struct OptimizerParityTests {
    static let f = try! fixtures.safetensors("layers.safetensors")

    func steps(_ name: String, _ make: ([(name: String, tensor: Tensor)]) -> Optimizer) {
        let theta = Self.f["optim/theta0"]!.copy()
        theta.requiresGrad = true
        let optimizer = make([("theta", theta)])
        for i in 0..<3 {
            theta.grad = Self.f["optim/grad.\(i)"]!.copy()
            optimizer.step()
            expectClose(theta, Self.f["optim/\(name).\(i)"], tolerance: 1e-6, "\(name) after step \(i + 1)")
        }
    }

    @Test func adam() { steps("adam") { Adam($0, learningRate: 1e-2) } }
    /// The four-lane Adam loop gives exactly the scalar update (11 values: two vector blocks and a
    /// tail; 100,003: split across both cores, then a tail).
    @Test(arguments: [11, 100_003])
    func adamVectorLoopEqualsScalarFormula(count: Int) {
        var rng = RandomGenerator(seed: 4)
        let theta = Tensor.randn([count], rng: &rng)
        theta.requiresGrad = true
        var (expected, m, v) = (theta.scalars, [Float](repeating: 0, count: count), [Float](repeating: 0, count: count))
        let adam = Adam([("theta", theta)], learningRate: 1e-2)
        for step in 1...3 {
            let g = Tensor.randn([count], rng: &rng)
            theta.grad = g
            adam.step()
            // Adam's constants as it computes them (float32 hyper-parameters).
            let (lr, b1, b2): (Float, Float, Float) = (1e-2, 0.9, 0.999)
            let stepSize = Float(Double(lr) / (1 - pow(Double(b1), Double(step))))
            let correction2 = Float((1 - pow(Double(b2), Double(step))).squareRoot())
            for j in 0..<count {
                let gj = g.data[j]
                m[j] = m[j] + (1 - b1) * (gj - m[j])
                v[j] = v[j] * b2 + (1 - b2) * gj * gj
                expected[j] -= stepSize * (m[j] / (v[j].squareRoot() / correction2 + 1e-8))
            }
            #expect(theta.scalars == expected, "step \(step)")
        }
    }

    /// Optimizers write parameters in place, so they mark them modified: that is what makes cached
    /// bfloat16 copies of weights stale.
    @Test func optimizersMarkWhatTheyWrite() {
        for make in [{ Adam($0, learningRate: 1e-2) as Optimizer }, { SGD($0, learningRate: 0.1) as Optimizer }] {
            let theta = Tensor(shape: [5], repeating: 1, requiresGrad: true)
            let optimizer = make([("theta", theta)])
            let before = theta.storage.version
            theta.grad = Tensor(shape: [5], repeating: 0.5)
            optimizer.step()
            #expect(theta.storage.version != before)
        }
    }

    @Test func adamWithL2() { steps("adam_wd") { Adam($0, learningRate: 1e-2, weightDecay: 0.1) } }
    @Test func adamW() { steps("adamw") { Adam.adamW($0, learningRate: 1e-2, weightDecay: 0.1) } }
    @Test func sgd() { steps("sgd") { SGD($0, learningRate: 0.1) } }
    @Test func sgdMomentum() { steps("sgd_momentum") { SGD($0, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01) } }
    @Test func sgdNesterov() { steps("sgd_nesterov") { SGD($0, learningRate: 0.1, momentum: 0.9, nesterov: true) } }

    @Test func clipping() {
        let f = Self.f
        let a = Tensor(zeros: [3, 4], requiresGrad: true), b = Tensor(zeros: [5], requiresGrad: true)
        a.grad = f["clip/a"]!.copy(); b.grad = f["clip/b"]!.copy()
        let norm = clipGradientNorm([a, b], maxNorm: 2)
        #expect(abs(norm - f["clip/norm"]!.item) <= 1e-5 * norm)
        expectClose(a.grad, f["clip/a_clipped"], tolerance: 1e-6, "clipped a")
        expectClose(b.grad, f["clip/b_clipped"], tolerance: 1e-6, "clipped b")
        // Under the limit nothing changes.
        let before = a.grad!.scalars
        clipGradientNorm([a, b], maxNorm: 100)
        #expect(a.grad!.scalars == before)
    }

    /// A gradient large enough to be split across the cores: the norm is the float64 norm, the
    /// same on every call, and the scaling reaches every value.
    @Test func clippingLargeGradients() {
        var rng = RandomGenerator(seed: 4)
        let w = Tensor(zeros: [1_000_003], requiresGrad: true)
        w.grad = Tensor.randn([1_000_003], rng: &rng)
        var exact: Double = 0
        for j in 0..<w.count { exact += Double(w.grad!.data[j]) * Double(w.grad!.data[j]) }
        let original = w.grad!.scalars
        let norm = clipGradientNorm([w], maxNorm: 1e9)
        #expect(abs(Double(norm) - exact.squareRoot()) <= 1e-5 * exact.squareRoot())
        #expect(clipGradientNorm([w], maxNorm: 1e9) == norm)
        clipGradientNorm([w], maxNorm: norm / 4)
        #expect(abs(w.grad!.data[0] - original[0] / 4) <= 1e-6 * abs(original[0]) + 1e-12)
        #expect(abs(w.grad!.data[w.count - 1] - original[w.count - 1] / 4) <= 1e-6 * abs(original[w.count - 1]) + 1e-12)
    }

    /// Clipping applied as the optimizer reads the gradients (`gradientClipping`, then
    /// `step(gradientScale:)`) updates exactly as clipping them in place and stepping.
    @Test func clippingInTheStepEqualsClippingFirst() {
        var rng = RandomGenerator(seed: 9)
        let start = Tensor.randn([100_003], rng: &rng), gradient = Tensor.randn([100_003], rng: &rng, std: 3)
        let optimizers: [([(name: String, tensor: Tensor)]) -> Optimizer] = [
            { Adam($0, learningRate: 1e-2) }, { Adam.adamW($0, learningRate: 1e-2) },
            { SGD($0, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01) },
        ]
        for make in optimizers {
            func run(inStep: Bool) -> [Float] {
                let theta = start.copy()
                theta.requiresGrad = true
                let optimizer = make([("theta", theta)])
                for _ in 0..<2 {
                    theta.grad = gradient.copy()
                    if inStep {
                        let (norm, coefficient) = gradientClipping([theta], maxNorm: 50)
                        #expect(coefficient < 1 && norm > 50)
                        optimizer.step(gradientScale: coefficient)
                        #expect(theta.grad!.scalars == gradient.scalars, "the gradients are left as they are")
                    } else {
                        clipGradientNorm([theta], maxNorm: 50)
                        optimizer.step()
                    }
                    optimizer.zeroGrad()
                }
                return theta.scalars
            }
            #expect(run(inStep: true) == run(inStep: false))
        }
    }

    @Test func stateSavesAndRestoresExactly() throws {
        func run(restoreAfter: Int?) throws -> [Float] {
            let theta = Self.f["optim/theta0"]!.copy()
            theta.requiresGrad = true
            var optimizer = Adam([("theta", theta)], learningRate: 1e-2)
            for i in 0..<3 {
                if i == restoreAfter {
                    let saved = optimizer.stateDict().serialized()
                    optimizer = Adam([("theta", theta)], learningRate: 999)
                    try optimizer.loadState(SafeTensors.parse(saved))
                }
                theta.grad = Self.f["optim/grad.\(i)"]!.copy()
                optimizer.step()
            }
            return theta.scalars
        }
        #expect(try run(restoreAfter: 2) == run(restoreAfter: nil))
        let other = Adam([("w", Tensor(zeros: [2], requiresGrad: true))])
        #expect(throws: OptimizerStateError.self) {
            try other.loadState(Adam([("theta", Tensor(zeros: [4, 3]))]).stateDict())
        }
    }
}

@Suite struct ScheduleTests {
    @Test func stepSchedule() {
        var s = StepSchedule(initialRate: 1, stepSize: 2, gamma: 0.5)
        #expect([s.step(), s.step(), s.step(), s.step()] == [1, 0.5, 0.5, 0.25])
    }

    @Test func plateauReducesAfterPatienceRunsOut() throws {
        var s = PlateauSchedule(rate: 1, mode: .max, factor: 0.8, patience: 1)
        let rates = [0.1, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3].map { s.step(metric: Float($0)) }
        for (rate, expected) in zip(rates, [1, 1, 1, 0.8, 0.8, 0.8, 0.64] as [Float]) { #expect(abs(rate - expected) < 1e-6) }
        let data = try JSONEncoder().encode(s)
        #expect(try JSONDecoder().decode(PlateauSchedule.self, from: data) == s)
        var m = PlateauSchedule(rate: 1, mode: .min, factor: 0.5, patience: 0, minimumRate: 0.3)
        #expect([m.step(metric: 3), m.step(metric: 3), m.step(metric: 3), m.step(metric: 2)] == [1, 0.5, 0.3, 0.3])
    }
}
