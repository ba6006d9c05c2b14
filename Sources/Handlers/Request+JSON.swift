import AgentRuntime
import Foundation

extension Request {
    /// Decodes a JSON body, turning every way it can be wrong into a 4xx problem that names the field:
    /// wrong content type (415), invalid UTF-8 or malformed JSON (400), missing or mistyped fields (422).
    /// `maxStringBytes`: the longest string accepted (larger where messages may carry images).
    public func decodeJSON<T: Decodable>(_ type: T.Type, allowEmpty: Bool = false, maxStringBytes: Int = JSONLimits.maxStringBytes) throws -> T {
        if body.isEmpty, allowEmpty {
            return try JSONDecoder().decode(T.self, from: Data("{}".utf8))
        }
        let contentType = headers["Content-Type"] ?? ""
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json")) else {
            throw APIError(status: 415, code: "unsupported_media_type",
                           detail: contentType.isEmpty
                               ? "The request body needs Content-Type: application/json."
                               : "Content-Type '\(contentType.prefix(100))' is not supported; send application/json.",
                           headers: HTTPHeaders([("Accept", "application/json")]))
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
