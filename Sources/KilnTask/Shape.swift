/// One value of a shape parameter, as written in `task.toml`.
package enum ShapeValue: Hashable, Sendable, Codable {
    case int(Int)
    case float(Double)
    case bool(Bool)
    case ints([Int])
    case floats([Double])
    /// A word such as a dtype (`float16`): letters, digits, `_`, `.` and `-`.
    case word(String)

    /// The text the evaluation driver parses: numbers as written, lists comma-separated.
    package var driverText: String {
        switch self {
        case .int(let value): String(value)
        case .float(let value): String(value)
        case .bool(let value): value ? "1" : "0"
        case .ints(let values): values.map(String.init).joined(separator: ",")
        case .floats(let values): values.map { String($0) }.joined(separator: ",")
        case .word(let value): value
        }
    }
}

/// One problem size of a task: a name and the parameters its instance file reads.
package struct Shape: Hashable, Sendable, Codable {
    /// A named parameter of a shape.
    package struct Parameter: Hashable, Sendable, Codable {
        /// The parameter's key, as the instance file asks for it.
        package var key: String
        /// The parameter's value.
        package var value: ShapeValue
    }

    /// The shape's name, unique within its task.
    package var name: String
    /// The parameters in the order the task file lists them.
    package var parameters: [Parameter]

    /// Creates a shape.
    /// - Parameters:
    ///   - name: the shape's name.
    ///   - parameters: its parameters, in order.
    package init(name: String, parameters: [Parameter]) {
        self.name = name
        self.parameters = parameters
    }

    /// The value of one parameter, if the shape has it.
    /// - Parameter key: the parameter's key.
    /// - Returns: the value, or nil.
    package subscript(key: String) -> ShapeValue? {
        parameters.first { $0.key == key }?.value
    }

    /// The `key=value;...` text passed to the evaluation driver, the name first.
    package var driverSpec: String {
        (["name=\(name)"] + parameters.map { "\($0.key)=\($0.value.driverText)" }).joined(separator: ";")
    }

    /// A short human summary such as `batch=4 prefix=[256,512] head_dim=128`.
    package var summary: String {
        parameters.map { parameter in
            switch parameter.value {
            case .ints, .floats: "\(parameter.key)=[\(parameter.value.driverText)]"
            default: "\(parameter.key)=\(parameter.value.driverText)"
            }
        }.joined(separator: " ")
    }
}
