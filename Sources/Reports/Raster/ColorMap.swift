/// A perceptual blue → cyan → green → yellow → red heat map for attention weights in [0, 1].
enum HeatColorMap {
    private static let stops: [(Float, Float, Float)] = [
        (0.19, 0.07, 0.23), (0.16, 0.47, 0.96), (0.10, 0.84, 0.75), (0.64, 0.99, 0.24), (0.98, 0.73, 0.22), (0.80, 0.18, 0.04),
    ]

    static func color(_ value: Float) -> (r: Float, g: Float, b: Float) {
        let v = min(max(value.isFinite ? value : 0, 0), 1) * Float(stops.count - 1)
        let i = min(Int(v), stops.count - 2)
        let t = v - Float(i)
        let (a, b) = (stops[i], stops[i + 1])
        return (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, a.2 + (b.2 - a.2) * t)
    }
}
