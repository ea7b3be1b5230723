import BatonTrainer
/// A one-hidden-layer network: 64 inputs, `hidden` ReLU units, 10-way softmax.
/// All parameters live in one flat array (W1, b1, W2, b2) so gradients are averaged
/// across ranks with a single allreduce per step.
struct Network {
    let hidden: Int
    var parameters: [Double]

    static let inputs = DigitsData.features
    static let outputs = DigitsData.classes

    var w1Offset: Int { 0 }
    var b1Offset: Int { hidden * Self.inputs }
    var w2Offset: Int { b1Offset + hidden }
    var b2Offset: Int { w2Offset + Self.outputs * hidden }
    static func parameterCount(hidden: Int) -> Int { hidden * inputs + hidden + outputs * hidden + outputs }

    /// Seeded initialisation (uniform, scaled by fan-in as He et al. 2015): the same
    /// weights on every rank and every machine for the same seed.
    init(hidden: Int, seed: UInt64) {
        self.hidden = hidden
        var rng = SplitMix64(seed: seed)
        var p = [Double](repeating: 0, count: Self.parameterCount(hidden: hidden))
        let s1 = (6.0 / Double(Self.inputs)).squareRoot(), s2 = (6.0 / Double(hidden)).squareRoot()
        for i in 0..<(hidden * Self.inputs) { p[i] = rng.signedUnit() * s1 }
        let w2 = hidden * Self.inputs + hidden
        for i in 0..<(Self.outputs * hidden) { p[w2 + i] = rng.signedUnit() * s2 }
        parameters = p
    }

    init(hidden: Int, parameters: [Double]) {
        self.hidden = hidden
        self.parameters = parameters
    }

    /// Adds the gradient of the cross-entropy loss of one sample to `gradient` and
    /// returns (loss, correct). `scratch` holds 2 x hidden + 10 doubles.
    @_optimize(speed)
    func accumulate(
        x: UnsafeBufferPointer<Double>, label: Int, gradient: UnsafeMutableBufferPointer<Double>,
        scratch: UnsafeMutableBufferPointer<Double>
    ) -> (loss: Double, correct: Bool) {
        parameters.withUnsafeBufferPointer { p in
            let h = UnsafeMutableBufferPointer(rebasing: scratch[0..<hidden])
            let dh = UnsafeMutableBufferPointer(rebasing: scratch[hidden..<(2 * hidden)])
            let z = UnsafeMutableBufferPointer(rebasing: scratch[(2 * hidden)..<(2 * hidden + Self.outputs)])
            let (w1, b1, w2, b2) = (w1Offset, b1Offset, w2Offset, b2Offset)
            for j in 0..<hidden {
                var s = p[b1 + j]
                let row = w1 + j * Self.inputs
                for k in 0..<Self.inputs { s += p[row + k] * x[k] }
                h[j] = s > 0 ? s : 0
            }
            var best = 0
            for o in 0..<Self.outputs {
                var s = p[b2 + o]
                let row = w2 + o * hidden
                for j in 0..<hidden { s += p[row + j] * h[j] }
                z[o] = s
                if s > z[best] { best = o }
            }
            let m = z[best]
            var total = 0.0
            for o in 0..<Self.outputs {
                z[o] = _exp(z[o] - m)
                total += z[o]
            }
            for o in 0..<Self.outputs { z[o] /= total }  // softmax probabilities
            let loss = -_log(Swift.max(z[label], 1e-300))
            z[label] -= 1  // dLoss/dz
            for j in 0..<hidden { dh[j] = 0 }
            for o in 0..<Self.outputs {
                let d = z[o]
                gradient[b2 + o] += d
                let row = w2 + o * hidden
                for j in 0..<hidden {
                    gradient[row + j] += d * h[j]
                    dh[j] += p[row + j] * d
                }
            }
            for j in 0..<hidden where h[j] > 0 {
                let d = dh[j]
                gradient[b1 + j] += d
                let row = w1 + j * Self.inputs
                for k in 0..<Self.inputs { gradient[row + k] += d * x[k] }
            }
            return (loss, best == label)
        }
    }

    /// Fraction of `data` classified correctly, and the mean loss.
    func evaluate(_ data: DigitsData) -> (accuracy: Double, loss: Double) {
        var gradient = [Double](repeating: 0, count: parameters.count)
        var scratch = [Double](repeating: 0, count: 2 * hidden + Self.outputs)
        var correct = 0
        var loss = 0.0
        data.x.withUnsafeBufferPointer { xs in
            gradient.withUnsafeMutableBufferPointer { g in
                scratch.withUnsafeMutableBufferPointer { s in
                    for i in 0..<data.count {
                        let x = UnsafeBufferPointer(rebasing: xs[(i * Self.inputs)..<((i + 1) * Self.inputs)])
                        let r = accumulate(x: x, label: data.y[i], gradient: g, scratch: s)
                        loss += r.loss
                        if r.correct { correct += 1 }
                    }
                }
            }
        }
        return (Double(correct) / Double(data.count), loss / Double(data.count))
    }

    /// FNV-1a over the parameters' bytes: equal on every rank when the weights are
    /// bit-identical.
    var hash: UInt64 { fnv1a(parameters) }
}

func fnv1a(_ values: [Double], seed: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 {
    values.withUnsafeBytes { fnv1a(bytes: $0, seed: seed) }
}

@_optimize(speed)
func fnv1a(bytes: UnsafeRawBufferPointer, seed: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 {
    var h = seed
    for b in bytes {
        h ^= UInt64(b)
        h = h &* 0x100_0000_01B3
    }
    return h
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _exp(_ x: Double) -> Double { Glibc.exp(x) }
@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
#else
import Foundation
@inline(__always) func _exp(_ x: Double) -> Double { Foundation.exp(x) }
@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
#endif
