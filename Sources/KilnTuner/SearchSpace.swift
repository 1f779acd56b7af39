package import KilnTask

/// A design's tunable space as a grid: one axis per tunable, plus one for the flag set.
///
/// Points are numbered 0..<size in mixed radix, the first axis fastest; point 0 is the default.
package struct SearchSpace: Sendable, Hashable {
    /// The values of each axis; the last axis is the flag-set index.
    package let axes: [[String]]
    /// The tunables' names, in axis order (without the flag-set axis).
    package let names: [String]

    /// Creates the grid of a tunable space.
    /// - Parameter space: the declared tunables and flag sets.
    package init(_ space: TunableSpace) {
        names = space.tunables.map(\.name)
        axes = space.tunables.map(\.values) + [(0..<max(space.flagSets.count, 1)).map(String.init)]
    }

    /// The number of points.
    package var size: Int {
        var product = 1
        for axis in axes {
            let (next, overflow) = product.multipliedReportingOverflow(by: axis.count)
            if overflow { return Int.max }
            product = next
        }
        return product
    }

    /// The coordinates (one value index per axis) of a point.
    /// - Parameter index: the point's number.
    /// - Returns: its coordinates.
    package func coordinates(of index: Int) -> [Int] {
        var rest = index
        return axes.map { axis in
            defer { rest /= axis.count }
            return rest % axis.count
        }
    }

    /// The point with the given coordinates.
    /// - Parameter coordinates: one value index per axis.
    /// - Returns: its number.
    package func index(of coordinates: [Int]) -> Int {
        var index = 0
        var stride = 1
        for (axis, coordinate) in zip(axes, coordinates) {
            index += coordinate * stride
            stride *= axis.count
        }
        return index
    }

    /// The tunable configuration of a point.
    /// - Parameter index: the point's number.
    /// - Returns: its configuration.
    package func configuration(at index: Int) -> TunableConfiguration {
        let coordinates = coordinates(of: index)
        var values: [String: String] = [:]
        for (position, name) in names.enumerated() { values[name] = axes[position][coordinates[position]] }
        return TunableConfiguration(values: values, flagSet: coordinates[axes.count - 1])
    }

    /// The point of a configuration, if it lies in the grid.
    /// - Parameter configuration: the configuration.
    /// - Returns: its number, or nil.
    package func index(of configuration: TunableConfiguration) -> Int? {
        var coordinates: [Int] = []
        for (position, name) in names.enumerated() {
            guard let value = configuration.values[name], let at = axes[position].firstIndex(of: value) else {
                return nil
            }
            coordinates.append(at)
        }
        guard configuration.flagSet < axes[axes.count - 1].count else { return nil }
        return index(of: coordinates + [configuration.flagSet])
    }

    /// The points that differ from `index` by one step along one axis.
    /// - Parameter index: a point.
    /// - Returns: its neighbours.
    package func neighbours(of index: Int) -> [Int] {
        let base = coordinates(of: index)
        var result: [Int] = []
        for axis in axes.indices {
            for step in [-1, 1] {
                let value = base[axis] + step
                guard value >= 0, value < axes[axis].count else { continue }
                var moved = base
                moved[axis] = value
                result.append(self.index(of: moved))
            }
        }
        return result
    }
}

/// One evaluated point and its score (the geometric-mean speedup), nil when it was invalid.
package struct Trial: Sendable, Hashable, Codable {
    /// The point's number in its ``SearchSpace``.
    package var index: Int
    /// The score to maximise; nil for a configuration that failed to build or was wrong.
    package var score: Double?

    /// Creates a trial.
    /// - Parameters:
    ///   - index: the point.
    ///   - score: its score, nil when invalid.
    package init(index: Int, score: Double?) {
        self.index = index
        self.score = score
    }
}
