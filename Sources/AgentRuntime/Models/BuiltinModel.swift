import Foundation

/// The offline model: deterministic, no network, no key. Its rules, in order:
///
/// 1. After tool results (the conversation ends with tool messages), it answers with them:
///    `calculator returned 84.` (one sentence per result).
/// 2. When the last user message names offered tools, each followed by a JSON object
///    (`current_time {"timezone": "Asia/Tokyo"}`), it calls every one of them with its object, in the order they
///    are written, as parallel calls of one turn (`calculator {"expression": "1+1"} calculator {"expression": "2*3"}`
///    is two calls).
/// 3. With `calculator` offered, a user message holding arithmetic (`what is 12*(3+4)?`) makes it call
///    `calculator` with the expression (`12*(3+4)`).
/// 4. With `current_time` offered, a user message mentioning the time makes it call `current_time`, with the
///    first IANA zone in the message (`Europe/Paris`) if there is one.
/// 5. With `knowledge_search` offered, any other question (a message ending in `?`) is searched for.
/// 6. Otherwise it answers `You said: <the last user message>`, saying how many images of it it ignored.
///
/// `tool_choice: none` turns rules 2-5 off; a named tool limits them to that tool. Answers stream one token
/// at a time with `tokenDelay` before each; tokens are whitespace-separated words with their leading space,
/// and usage counts them the same way (the prompt's words in, the answer's words and tool arguments out).
public struct BuiltinModel: ChatModel {
    public var tokenDelay: Duration
    public var clock: any Clock<Duration>

    public init(tokenDelay: Duration, clock: any Clock<Duration> = ContinuousClock()) {
        self.tokenDelay = tokenDelay
        self.clock = clock
    }

    public func complete(
        _ request: ModelRequest,
        onDelta: @Sendable (ModelDelta) async throws -> Void
    ) async throws -> ModelResponse {
        let input = request.messages.reduce(0) { $0 + Tokenizer.count($1.content) + $1.toolCalls.reduce(0) { $0 + Tokenizer.count($1.arguments) } }
        if let calls = Self.toolCalls(for: request) {
            var produced = 0
            for (index, call) in calls.enumerated() {
                try await pause()
                try await onDelta(.toolCall(index: index, id: call.id, name: call.name, arguments: call.arguments))
                produced += 1 + Tokenizer.count(call.arguments)
            }
            return ModelResponse(content: "", toolCalls: calls, finishReason: "tool_calls",
                                 usage: Usage(inputTokens: input, outputTokens: produced))
        }
        let reply = Self.answer(for: request.messages)
        var produced = 0
        for token in Tokenizer.tokens(reply) {
            try await pause()
            try await onDelta(.text(token))
            produced += 1
        }
        return ModelResponse(content: reply, finishReason: "stop", usage: Usage(inputTokens: input, outputTokens: produced))
    }

    private func pause() async throws {
        if tokenDelay > .zero {
            try await clock.sleep(for: tokenDelay)
        } else {
            try Task.checkCancellation()
        }
    }

    static func answer(for messages: [ChatMessage]) -> String {
        let results = messages.reversed().prefix { $0.role == .tool }.reversed()
        if !results.isEmpty {
            return results.map { "\($0.name ?? "the tool") returned \($0.content)." }.joined(separator: " ")
        }
        let last = messages.last { $0.role == .user }
        let files = last?.images.filter(\.isFile).count ?? 0
        let images = (last?.images.count ?? 0) - files
        // It cannot see them, and says so rather than answer as if there were none.
        let counted = [(images, "image"), (files, "file")].filter { $0.0 > 0 }.map { "\($0.0) \($0.1)\($0.0 == 1 ? "" : "s")" }
        let note = counted.isEmpty ? ""
            : " (\(counted.joined(separator: " and ")) ignored: the built-in model does not look at \(files == 0 ? "images" : "attachments"))"
        return "You said: " + (last?.content ?? "") + note
    }

    /// The tool calls rules 2-5 ask for, or nil to answer in words.
    static func toolCalls(for request: ModelRequest) -> [ToolCall]? {
        guard let last = request.messages.last, last.role == .user, request.toolChoice != .none else { return nil }
        var offered = request.tools.map(\.name)
        if case .tool(let only) = request.toolChoice { offered = offered.filter { $0 == only } }
        let text = last.content
        let callID = "call_\(request.messages.count)_0"
        let named = namedCalls(of: offered, in: text)
        if !named.isEmpty {
            return named.enumerated().map { index, call in
                ToolCall(id: "call_\(request.messages.count)_\(index)", name: call.name, arguments: call.arguments)
            }
        }
        if offered.contains("calculator"), let expression = arithmetic(in: text) {
            return [ToolCall(id: callID, name: "calculator", arguments: #"{"expression":"\#(expression)"}"#)]
        }
        if offered.contains("current_time"), text.lowercased().contains("time") {
            let zone = text.firstMatch(of: /[A-Z][A-Za-z]+\/[A-Z][A-Za-z_]+(?:\/[A-Z][A-Za-z_]+)?/).map { String($0.output) }
            return [ToolCall(id: callID, name: "current_time", arguments: zone.map { #"{"timezone":"\#($0)"}"# } ?? "{}")]
        }
        if offered.contains("knowledge_search"), text.trimmingCharacters(in: .whitespaces).hasSuffix("?") {
            let query = String(data: (try? JSONEncoder().encode(["query": String(text.prefix(500))])) ?? Data("{}".utf8), encoding: .utf8) ?? "{}"
            return [ToolCall(id: callID, name: "knowledge_search", arguments: query)]
        }
        return nil
    }

    /// Every `name {...}` of an offered tool in `text`, in the order written. A name inside another word
    /// (`get` in `http_get`) or inside an object already taken (a tool name in a JSON string) does not count.
    static func namedCalls(of tools: [String], in text: String) -> [(name: String, arguments: String)] {
        var found: [(range: Range<String.Index>, name: String, arguments: String)] = []
        for name in tools where !name.isEmpty {
            var from = text.startIndex
            while let match = text.range(of: name, range: from..<text.endIndex) {
                from = match.upperBound
                if match.lowerBound > text.startIndex {
                    let before = text[text.index(before: match.lowerBound)]
                    if before.isLetter || before.isNumber || before == "_" { continue }
                }
                if let object = jsonObject(at: match.upperBound, in: text) {
                    found.append((match.lowerBound..<object.upperBound, name, String(text[object])))
                }
            }
        }
        var calls: [(name: String, arguments: String)] = []
        var end = text.startIndex
        for call in found.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) where call.range.lowerBound >= end {
            calls.append((call.name, call.arguments))
            end = call.range.upperBound
        }
        return calls
    }

    /// The balanced JSON object that starts at `index` (after spaces or a colon), as a range of `text`.
    static func jsonObject(at index: String.Index, in text: String) -> Range<String.Index>? {
        let rest = text[index...].drop { $0 == " " || $0 == ":" }
        guard rest.first == "{" else { return nil }
        var depth = 0
        var inString = false
        var escaped = false
        for index in rest.indices {
            let character = rest[index]
            if inString {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inString = false }
                continue
            }
            switch character {
            case "\"": inString = true
            case "{": depth += 1
            case "}":
                depth -= 1
                if depth == 0 { return rest.startIndex..<rest.index(after: index) }
            default: break
            }
        }
        return nil
    }

    /// The longest run of digits, operators and parentheses that has a digit and an operator between operands.
    static func arithmetic(in text: String) -> String? {
        let candidates = text.matches(of: /[0-9.()+\-*\/^% ]+/).map { $0.output.trimmingCharacters(in: .whitespaces) }
        return candidates
            .filter { $0.contains(where: \.isNumber) && $0.contains(/[0-9)]\s*[+\-*\/^%]\s*[0-9(.]/) }
            .max { $0.count < $1.count }
    }
}

/// Splits text into word tokens, each keeping the whitespace before it, so joining them gives the text back.
public enum Tokenizer {
    public static func tokens(_ text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        var inWord = false
        for character in text {
            if character.isWhitespace {
                if inWord {
                    tokens.append(current)
                    current = ""
                    inWord = false
                }
            } else {
                inWord = true
            }
            current.append(character)
        }
        if !current.isEmpty {
            if inWord || tokens.isEmpty { tokens.append(current) } else { tokens[tokens.count - 1] += current }
        }
        return tokens
    }

    public static func count(_ text: String) -> Int {
        var count = 0
        var inWord = false
        for scalar in text.unicodeScalars {
            let space = scalar.properties.isWhitespace
            if !space && !inWord { count += 1 }
            inWord = !space
        }
        return count
    }
}
