/// A coding key for reading whatever keys an object has.
public struct AnyKey: CodingKey, Sendable {
    public var stringValue: String
    public var intValue: Int?
    public init(stringValue: String) { self.stringValue = stringValue }
    public init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

extension KeyedDecodingContainer where K == AnyKey {
    /// Throws for the first key not in `known`, naming it and the keys that are allowed.
    public func rejectUnknownKeys(_ known: [String]) throws {
        for key in allKeys where !known.contains(key.stringValue) {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: codingPath + [key],
                debugDescription: "unknown field; allowed: \(known.joined(separator: ", "))"))
        }
    }
}

extension DecodingError {
    /// The offending field as a path such as `input.messages[2].content`.
    public var fieldPath: String {
        switch self {
        case .keyNotFound(let key, let context):
            return Self.path(context.codingPath + [key])
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return Self.path(context.codingPath)
        @unknown default:
            return ""
        }
    }

    /// What is wrong, in words that name no Swift type.
    public var reason: String {
        switch self {
        case .keyNotFound:
            return "is required"
        case .typeMismatch(let type, _):
            return "must be \(Self.describe(type))"
        case .valueNotFound(let type, _):
            return "must be \(Self.describe(type)), not null"
        case .dataCorrupted(let context):
            return context.debugDescription
        @unknown default:
            return "is invalid"
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        var result = ""
        for key in keys {
            if let index = key.intValue {
                result += "[\(index)]"
            } else if key.stringValue.hasPrefix("Index "), let index = Int(key.stringValue.dropFirst(6)) {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return result
    }

    static func describe(_ type: Any.Type) -> String {
        let name = String(describing: type)
        switch name {
        case "String": return "a string"
        case "Bool": return "a boolean"
        case "Int", "Int64", "Int32", "UInt", "UInt64": return "an integer"
        case "Double", "Float": return "a number"
        case _ where name.hasPrefix("Array") || name.hasPrefix("["): return "an array"
        case _ where name.hasPrefix("Dictionary") || name.hasPrefix("[String"): return "an object"
        default: return "an object"
        }
    }
}
