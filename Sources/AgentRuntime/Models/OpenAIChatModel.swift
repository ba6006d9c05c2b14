import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Why a model server failed us, in words safe to show a client.
public struct UpstreamError: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case rateLimited, timeout, failed }

    public var kind: Kind
    /// The model server's HTTP status, when it answered.
    public var status: Int?
    public var message: String
    public var retryAfter: Duration?

    public init(kind: Kind, status: Int? = nil, message: String, retryAfter: Duration? = nil) {
        self.kind = kind
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
    }

    var isRetryable: Bool { kind != .failed || (status ?? 0) >= 500 }
}

/// Any OpenAI-compatible `/v1/chat/completions` endpoint, streamed: OpenAI, vLLM, Ollama, llama.cpp, LM Studio.
///
/// Tool-call fragments are assembled across chunks by their index. Usage comes from the server when it sends
/// it (`stream_options.include_usage`); servers that do not (llama.cpp's) get an estimate in words, marked
/// `estimated`. 429 and 5xx answers and timeouts are retried with backoff, honouring `Retry-After`, but only
/// before the first token has gone to the client. Cancelling the task drops the response, which makes the
/// client close the upstream request.
public struct OpenAIChatModel: ChatModel {
    public struct Settings: Sendable, Equatable {
        public var baseURL: String
        public var model: String
        public var apiKey: String?
        public var temperature: Double?
        public var maxTokens: Int?
        public var maxRetries: Int
        public var topP: Double?
        public var stop: [String]?
        public var seed: Int?
        public var responseFormat: JSONValue?

        public init(baseURL: String, model: String, apiKey: String? = nil, temperature: Double? = nil,
                    maxTokens: Int? = nil, maxRetries: Int = 2) {
            self.baseURL = baseURL
            self.model = model
            self.apiKey = apiKey
            self.temperature = temperature
            self.maxTokens = maxTokens
            self.maxRetries = maxRetries
        }
    }

    public var settings: Settings
    public var client: HTTPClient
    public var clock: any Clock<Duration>

    public init(settings: Settings, client: HTTPClient, clock: any Clock<Duration> = ContinuousClock()) {
        self.settings = settings
        self.client = client
        self.clock = clock
    }

    public func complete(
        _ request: ModelRequest, onDelta: @Sendable (ModelDelta) async throws -> Void
    ) async throws -> ModelResponse {
        var attempt = 0
        while true {
            var delivered = false
            do {
                return try await stream(request) { delta in
                    delivered = true
                    try await onDelta(delta)
                }
            } catch let error as UpstreamError where error.isRetryable && !delivered && attempt < settings.maxRetries {
                attempt += 1
                let backoff = error.retryAfter ?? .milliseconds(Int.random(in: 200...400) << attempt)
                try await clock.sleep(for: min(backoff, .seconds(30)))
            }
        }
    }

    private func stream(
        _ request: ModelRequest, onDelta: (ModelDelta) async throws -> Void
    ) async throws -> ModelResponse {
        var http = HTTPClientRequest(url: settings.baseURL.trimmingSuffix("/") + "/chat/completions")
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        http.headers.add(name: "Accept", value: "text/event-stream")
        if let key = settings.apiKey { http.headers.add(name: "Authorization", value: "Bearer \(key)") }
        http.body = .bytes(ByteBuffer(bytes: try body(for: request)))

        let response: HTTPClientResponse
        do {
            response = try await client.execute(http, timeout: .seconds(60))
        } catch {
            throw Self.mapTransport(error)
        }
        guard response.status == .ok else {
            let body = (try? await response.body.collect(upTo: 64 * 1024)).map { Array($0.readableBytesView) } ?? []
            let message = OpenAIWire.errorMessage(body).map { String($0.prefix(300)) } ?? "HTTP \(response.status.code)"
            let retryAfter = response.headers.first(name: "Retry-After").flatMap(Int.init).map { Duration.seconds($0) }
            throw UpstreamError(kind: response.status == .tooManyRequests ? .rateLimited : .failed,
                                status: Int(response.status.code), message: message, retryAfter: retryAfter)
        }

        var assembler = ChunkAssembler()
        var pending: [UInt8] = []
        var done = false
        do {
            reading: for try await buffer in response.body {
                try Task.checkCancellation()
                pending += buffer.readableBytesView
                while let newline = pending.firstIndex(of: 10) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    pending.removeFirst(newline + 1)
                    guard line.hasPrefix("data:") else { continue }
                    let payload = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
                    if payload == "[DONE]" {
                        done = true
                        break reading
                    }
                    for delta in try assembler.add(payload) {
                        do { try await onDelta(delta) } catch { throw Consumer(error: error) }
                    }
                }
            }
            // A body that ends with neither `[DONE]` nor a finish reason was cut off: a server killed mid-answer
            // (whose stream, delimited by the connection's close, ends like a complete one) or a proxy giving up. Its
            // text is a fragment, not an answer, so the run fails rather than succeed with half a sentence.
            if !done, !assembler.finished {
                throw UpstreamError(kind: .failed, message: "the model server's stream ended before the answer did")
            }
        } catch let error as Consumer {
            throw error.error
        } catch let error as UpstreamError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw Self.mapTransport(error)
        }
        return assembler.response(estimatingFrom: request)
    }

    /// An error of whoever takes the deltas (the run's event log, say, when the store is out of reach): it comes out
    /// as it was, not as the model server's failure, which it is not.
    struct Consumer: Error {
        let error: any Error
    }

    func body(for request: ModelRequest) throws -> [UInt8] {
        let wire = OpenAIWire.Request(
            model: settings.model, messages: request.messages.map(OpenAIWire.Message.init),
            tools: request.tools.isEmpty ? nil : request.tools.map(OpenAIWire.Tool.init),
            tool_choice: request.tools.isEmpty ? nil : OpenAIWire.ToolChoiceValue(choice: request.toolChoice),
            temperature: settings.temperature, max_tokens: settings.maxTokens, top_p: settings.topP, stop: settings.stop,
            seed: settings.seed, response_format: settings.responseFormat)
        return Array(try JSONEncoder().encode(wire))
    }

    static func mapTransport(_ error: any Error) -> any Error {
        if error is CancellationError { return error }
        if let error = error as? HTTPClientError {
            switch error {
            case .readTimeout, .connectTimeout, .deadlineExceeded:
                return UpstreamError(kind: .timeout, message: "the model server did not answer in time")
            case .cancelled:
                return CancellationError()
            default:
                break
            }
        }
        return UpstreamError(kind: .failed, message: "cannot reach the model server")
    }
}

/// Builds the answer from streamed chunks: text as it comes, tool calls by index, the finish reason, usage.
struct ChunkAssembler {
    private(set) var content = ""
    private var calls: [Int: (id: String?, name: String, arguments: String)] = [:]
    private var finishReason: String?
    private var usage: Usage?

    /// The server said the answer is over (a finish reason), whether or not `[DONE]` follows.
    var finished: Bool { finishReason != nil }

    mutating func add(_ payload: String) throws -> [ModelDelta] {
        let chunk: OpenAIWire.Chunk
        do {
            chunk = try JSONDecoder().decode(OpenAIWire.Chunk.self, from: Data(payload.utf8))
        } catch {
            throw UpstreamError(kind: .failed, message: "the model server sent a malformed chunk")
        }
        if let error = chunk.error {
            throw UpstreamError(kind: .failed, message: String((error.message ?? "the model server failed").prefix(300)))
        }
        if let value = chunk.usage {
            usage = Usage(inputTokens: value.prompt_tokens ?? 0, outputTokens: value.completion_tokens ?? 0)
        }
        var deltas: [ModelDelta] = []
        guard let choice = chunk.choices?.first else { return deltas }
        if let reason = choice.finish_reason { finishReason = reason }
        if let text = choice.delta?.content, !text.isEmpty {
            content += text
            deltas.append(.text(text))
        }
        for fragment in choice.delta?.tool_calls ?? [] {
            let index = fragment.index ?? 0
            var call = calls[index] ?? (id: nil, name: "", arguments: "")
            if let id = fragment.id { call.id = id }
            // OpenAI sends the name once; llama.cpp repeats it in every chunk; either way it is not doubled.
            if let name = fragment.function?.name, name != call.name { call.name += name }
            if let arguments = fragment.function?.arguments { call.arguments += arguments }
            calls[index] = call
            deltas.append(.toolCall(index: index, id: fragment.id, name: fragment.function?.name, arguments: fragment.function?.arguments ?? ""))
        }
        return deltas
    }

    func response(estimatingFrom request: ModelRequest) -> ModelResponse {
        let toolCalls = calls.keys.sorted().map { index in
            let call = calls[index]!
            return ToolCall(id: call.id ?? "call_\(index)", name: call.name, arguments: call.arguments)
        }
        let reported = usage ?? Usage(
            inputTokens: request.messages.reduce(0) { $0 + Tokenizer.count($1.content) },
            outputTokens: Tokenizer.count(content) + toolCalls.reduce(0) { $0 + Tokenizer.count($1.arguments) },
            estimated: true)
        return ModelResponse(content: content, toolCalls: toolCalls,
                             finishReason: toolCalls.isEmpty ? (finishReason ?? "stop") : "tool_calls", usage: reported)
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
