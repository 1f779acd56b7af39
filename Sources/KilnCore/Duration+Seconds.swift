extension Duration {
    /// Seconds, with their fraction.
    package var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }

    /// The longest duration Kiln accepts from input (a year): anything longer is a mistake or an attack.
    package static let longestAccepted: Duration = .seconds(365 * 86_400)

    /// A duration from a number of seconds a user or a file gave, or nil when it is not a finite,
    /// non-negative number of at most a year (`inf`, `nan`, `1e300`, `-1`): no conversion can trap.
    /// - Parameter seconds: the number.
    /// - Returns: the duration, or nil.
    package static func checkedSeconds(_ seconds: Double) -> Duration? {
        guard seconds.isFinite, seconds >= 0, seconds <= longestAccepted.inSeconds else { return nil }
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}

extension Int {
    /// An integer from a number a user or a file gave, or nil when it is not finite, not whole, or out of
    /// `range`: `Int(Double.infinity)` traps, this does not.
    /// - Parameters:
    ///   - value: the number.
    ///   - range: the accepted values.
    package init?(checking value: Double, in range: ClosedRange<Int>) {
        guard value.isFinite, value.rounded() == value, value >= Double(range.lowerBound),
            value <= Double(range.upperBound)
        else { return nil }
        self = Int(value)
    }
}
