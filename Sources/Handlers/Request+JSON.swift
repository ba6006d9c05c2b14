import HTTPTypes
import AgentRuntime
import Foundation
import Runs

extension Request {
    /// Decodes a JSON body, turning every way it can be wrong into a 4xx problem that names the field:
    /// wrong content type (415), invalid UTF-8 or malformed JSON (400), missing or mistyped fields (422).
    /// `maxStringBytes`: the longest string accepted (larger where messages may carry images).
    public func decodeJSON<T: Decodable>(_ type: T.Type, allowEmpty: Bool = false, maxStringBytes: Int = JSONLimits.maxStringBytes) throws -> T {
        if body.isEmpty, allowEmpty {
            return try JSONDecoder().decode(T.self, from: Data("{}".utf8))
        }
        let contentType = headers[.contentType] ?? ""
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json")) else {
            throw APIError(status: 415, code: "unsupported_media_type",
                           detail: contentType.isEmpty
                               ? "The request body needs Content-Type: application/json."
                               : "Content-Type '\(contentType.prefix(100))' is not supported; send application/json.",
                           headers: [.accept: "application/json"])
        }
        if body.isEmpty {
            throw APIError(status: 400, code: "empty_body", detail: "The request body is empty; a JSON object is required.")
        }
        guard let firstInvalid = firstInvalidUTF8Offset(body) else {
            try JSONLimits.check(body, maxStringBytes: maxStringBytes)
            return try decodeValidatedJSON(type)
        }
        throw APIError(status: 400, code: "invalid_utf8",
                       detail: "The request body is not valid UTF-8 (first bad byte at offset \(firstInvalid)).")
    }

    private func decodeValidatedJSON<T: Decodable>(_ type: T.Type) throws -> T {
        let data = Data(body)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty {
                // Foundation says the same of a number its field cannot hold (1.5 or 3.7e22 for an Int).
                if let field = Self.numberOutOfRange(T.self, data) {
                    throw APIError.invalid(field: field, "must be a whole number within range")
                }
                throw APIError(status: 400, code: "malformed_json", detail: "The request body is not valid JSON.")
            }
            if case .typeMismatch(_, let context) = error, context.codingPath.isEmpty {
                throw APIError(status: 422, code: "validation_error", detail: "The request body must be a JSON object.", field: "")
            }
            throw APIError.invalid(field: error.fieldPath, error.reason)
        } catch let error as APIError {
            throw error
        }
    }
}

extension Request {
    /// The path of the number that made valid JSON undecodable: each fractional or huge number is set to 0 in turn
    /// until the body decodes past it. Only on the error path.
    static func numberOutOfRange<T: Decodable>(_ type: T.Type, _ data: Data) -> String? {
        guard var tree = try? JSONDecoder().decode(JSONValue.self, from: data) else { return nil }
        var candidates: [[JSONPathStep]] = []
        func collect(_ value: JSONValue, _ path: [JSONPathStep]) {
            switch value {
            case .number(let number) where number.rounded() != number || abs(number) >= 9.2e18: candidates.append(path)
            case .array(let items): for (index, item) in items.enumerated() { collect(item, path + [.index(index)]) }
            case .object(let object): for key in object.keys.sorted() { collect(object[key]!, path + [.key(key)]) }
            default: break
            }
        }
        collect(tree, [])
        for path in candidates.prefix(20) {
            tree = tree.replacing(at: path[...], with: .number(0))
            do {
                _ = try JSONDecoder().decode(T.self, from: Data(encodeJSON(tree)))
            } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
                continue
            } catch {}
            return path.reduce("") { text, step in
                switch step {
                case .key(let key): text.isEmpty ? key : text + "." + key
                case .index(let index): text + "[\(index)]"
                }
            }
        }
        return nil
    }
}

enum JSONPathStep { case key(String), index(Int) }

extension JSONValue {
    func replacing(at path: ArraySlice<JSONPathStep>, with new: JSONValue) -> JSONValue {
        guard let step = path.first else { return new }
        switch (self, step) {
        case (.object(var object), .key(let key)):
            object[key] = object[key]?.replacing(at: path.dropFirst(), with: new)
            return .object(object)
        case (.array(var items), .index(let index)) where items.indices.contains(index):
            items[index] = items[index].replacing(at: path.dropFirst(), with: new)
            return .array(items)
        default:
            return self
        }
    }
}

/// nil when valid; otherwise the offset of the first byte that breaks UTF-8.
func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
    // Fast path: pure ASCII, the common case for JSON.
    if !bytes.contains(where: { $0 >= 0x80 }) { return nil }
    var decoder = UTF8()
    var iterator = CountingIterator(base: bytes.makeIterator())
    while true {
        let before = iterator.consumed
        switch decoder.decode(&iterator) {
        case .scalarValue: continue
        case .emptyInput: return nil
        case .error: return before
        }
    }
}

private struct CountingIterator: IteratorProtocol {
    var base: IndexingIterator<[UInt8]>
    var consumed = 0
    mutating func next() -> UInt8? {
        let byte = base.next()
        if byte != nil { consumed += 1 }
        return byte
    }
}
