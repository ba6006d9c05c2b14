/// The offline model: deterministic, no network, no key.
///
/// It answers `You said: <the last user message>` and streams that answer one token at a time,
/// waiting `tokenDelay` before each token, so demos and tests see a real stream. Tokens are
/// whitespace-separated words with their leading spaces, and usage counts them the same way.
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
        let lastUser = request.messages.last { $0.role == .user }?.content ?? ""
        let reply = "You said: " + lastUser
        var produced = 0
        for token in Tokenizer.tokens(reply) {
            if tokenDelay > .zero {
                try await clock.sleep(for: tokenDelay)
            } else {
                try Task.checkCancellation()
            }
            try await onDelta(.text(token))
            produced += 1
        }
        let input = request.messages.reduce(0) { $0 + Tokenizer.count($1.content) }
        return ModelResponse(content: reply, finishReason: "stop", usage: Usage(inputTokens: input, outputTokens: produced))
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
