import Foundation

/// Small self-contained SVG charts for reports: no scripts, no network.
package enum SVGChart {
    struct Series {
        var points: [(x: Double, y: Double)]
        var color: String
        var isStep = false
        var showsDots = true
        var drawsLine = true
    }

    /// A line or step chart with axes and labels.
    static func lines(
        _ series: [Series],
        width: Double = 640,
        height: Double = 260,
        xLabel: String,
        yLabel: String,
        hasIntegerX: Bool = false
    ) -> String {
        let all = series.flatMap(\.points)
        guard !all.isEmpty else { return "<p class=\"empty\">no data yet</p>" }
        let left = 56.0
        let bottom = 40.0
        let top = 12.0
        let right = 16.0
        let xMax = max(all.map(\.x).max() ?? 1, 1e-9)
        let yMax = max((all.map(\.y).max() ?? 1) * 1.1, 1e-9)
        func sx(_ x: Double) -> Double { left + x / xMax * (width - left - right) }
        func sy(_ y: Double) -> Double { height - bottom - y / yMax * (height - bottom - top) }
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" class=\"chart\">"
        for tick in ticks(yMax) {
            let y = sy(tick)
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(width - right))\" y2=\"\(f(y))\" class=\"grid\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(label(tick))</text>"
        }
        for tick in ticks(xMax, integers: hasIntegerX) {
            svg +=
                "<text x=\"\(f(sx(tick)))\" y=\"\(f(height - bottom + 16))\" text-anchor=\"middle\">\(label(tick))</text>"
        }
        svg +=
            "<line x1=\"\(f(left))\" y1=\"\(f(height - bottom))\" x2=\"\(f(width - right))\" y2=\"\(f(height - bottom))\" class=\"axis\"/>"
        svg +=
            "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(height - bottom))\" class=\"axis\"/>"
        svg +=
            "<text x=\"\(f((left + width - right) / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\" class=\"label\">\(escape(xLabel))</text>"
        svg +=
            "<text x=\"14\" y=\"\(f((top + height - bottom) / 2))\" text-anchor=\"middle\" class=\"label\" transform=\"rotate(-90 14 \(f((top + height - bottom) / 2)))\">\(escape(yLabel))</text>"
        for item in series where !item.points.isEmpty {
            var path = ""
            for (index, point) in item.points.enumerated() {
                if index == 0 {
                    path += "M\(f(sx(point.x))) \(f(sy(point.y)))"
                } else if item.isStep {
                    path += " H\(f(sx(point.x))) V\(f(sy(point.y)))"
                } else {
                    path += " L\(f(sx(point.x))) \(f(sy(point.y)))"
                }
            }
            if item.isStep, let last = item.points.last, last.x < xMax { path += " H\(f(sx(xMax)))" }
            if item.drawsLine {
                svg += "<path d=\"\(path)\" fill=\"none\" stroke=\"\(item.color)\" stroke-width=\"2\"/>"
            }
            if item.showsDots {
                // A step series' last point only carries the line to the end: no dot there.
                let dotted =
                    item.isStep && item.points.count > 1 && item.points.last?.y == item.points.dropLast().last?.y
                for point in dotted ? Array(item.points.dropLast()) : item.points {
                    svg += "<circle cx=\"\(f(sx(point.x)))\" cy=\"\(f(sy(point.y)))\" r=\"3\" fill=\"\(item.color)\"/>"
                }
            }
        }
        return svg + "</svg>"
    }

    /// A horizontal bar chart of labelled values.
    static func bars(_ items: [(label: String, value: Double)], unit: String, width: Double = 640) -> String {
        guard !items.isEmpty else { return "<p class=\"empty\">no data</p>" }
        let row = 26.0
        let left = 130.0
        let height = Double(items.count) * row + 10
        let maxValue = max(items.map(\.value).max() ?? 1, 1e-9)
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" class=\"chart\">"
        for (index, item) in items.enumerated() {
            let y = Double(index) * row + 5
            let length = item.value / maxValue * (width - left - 90)
            svg += "<text x=\"\(f(left - 8))\" y=\"\(f(y + 15))\" text-anchor=\"end\">\(escape(item.label))</text>"
            svg +=
                "<rect x=\"\(f(left))\" y=\"\(f(y + 3))\" width=\"\(f(max(length, 1)))\" height=\"16\" class=\"bar\"/>"
            svg +=
                "<text x=\"\(f(left + length + 6))\" y=\"\(f(y + 15))\">\(escape(String(format: "%.2f", item.value)))\(unit)</text>"
        }
        return svg + "</svg>"
    }

    static func ticks(_ maximum: Double, integers: Bool = false) -> [Double] {
        let raw = integers ? max(maximum / 4, 1) : maximum / 4
        let magnitude = pow(10, floor(log10(raw)))
        let steps = integers && magnitude < 10 ? [1.0, 2.0, 5.0, 10.0] : [1.0, 2.0, 2.5, 5.0, 10.0]
        let step = steps.map { $0 * magnitude }.first { $0 >= raw } ?? raw
        return stride(from: 0, through: maximum, by: step).map { $0 }
    }

    static func label(_ value: Double) -> String {
        value >= 100 || value == value.rounded() ? String(Int(value.rounded())) : String(format: "%.2g", value)
    }

    /// A coordinate with one decimal (`12.3`, `-0.5`), without `String(format:)`: a chart of a
    /// long run formats thousands of them per render.
    package static func f(_ value: Double) -> String {
        guard value.isFinite else { return "0.0" }
        let tenths = Int((abs(value) * 10).rounded())
        return (value < 0 && tenths > 0 ? "-" : "") + String(tenths / 10) + "." + String(tenths % 10)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
