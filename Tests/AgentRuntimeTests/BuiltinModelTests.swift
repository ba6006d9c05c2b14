@testable import AgentRuntime
import Foundation
import Testing

/// Rule 2 of the built-in model: every `name {json}` of the last user message is a call, in order, in one turn.
@Suite struct BuiltinModelTests {
    func calls(_ text: String, tools: [String] = ["calculator", "current_time", "http_get", "get"]) -> [ToolCall] {
        let specs = tools.map { ToolSpec(name: $0, description: "", parameters: ["type": "object"]) }
        return BuiltinModel.toolCalls(for: ModelRequest(model: "builtin", messages: [ChatMessage(id: "u", role: .user, content: text)], tools: specs)) ?? []
    }

    @Test func everyNamedCallInTheOrderWritten() {
        let found = calls(#"first current_time {"timezone": "UTC"} then calculator {"expression": "1+1"}, calculator: {"expression": "2*3"}"#)
        #expect(found.map(\.name) == ["current_time", "calculator", "calculator"])
        #expect(found.map(\.arguments) == [#"{"timezone": "UTC"}"#, #"{"expression": "1+1"}"#, #"{"expression": "2*3"}"#])
        #expect(found.map(\.id) == ["call_1_0", "call_1_1", "call_1_2"])
    }

    @Test func namesInsideWordsOrObjectsDoNotCount() {
        // `get` is inside `http_get`; the calculator named inside the JSON string is an argument, not a call.
        let found = calls(#"http_get {"url": "https://example.com/?q=calculator {\"x\": 1}"}"#)
        #expect(found.map(\.name) == ["http_get"])
        #expect(calls("calculator without an object").isEmpty)
    }

    @Test func severalCallsRunInOneTurnAndAreAnsweredInOrder() async throws {
        let runner = AgentRunner(makeID: { UUID().uuidString })
        let agent = AgentDefinition(id: "a", model: ModelSettings(), tools: [ConfiguredTool(CalculatorTool())])
        let result = try await runner.run(agent: agent, input: [ChatMessage(id: "u", role: .user,
            content: #"calculator {"expression": "2+2"} and calculator {"expression": "3*3"}"#)]) { _ in }
        let tools = result.messages.filter { $0.role == .tool }
        #expect(tools.map(\.content) == ["4", "9"])
        #expect(result.messages.last?.content == "calculator returned 4. calculator returned 9.")
        #expect(result.turns == 2, "one turn of two calls, then the answer")
    }
}

/// Images reach an OpenAI-compatible model server as content parts, by the URL they came with.
@Suite struct OpenAIWireImageTests {
    @Test func messagesWithImagesAreSentAsParts() throws {
        var message = ChatMessage(id: "m", role: .user, content: "what is this?")
        message.images = [ImageRef(url: "data:image/png;base64,iVBORw0KGgo=", detail: "low"), ImageRef(url: "https://example.com/cat.jpg")]
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(OpenAIWire.Message(message)), as: UTF8.self)
        #expect(json == #"{"content":[{"text":"what is this?","type":"text"},{"image_url":{"detail":"low","url":"data:image\/png;base64,iVBORw0KGgo="},"type":"image_url"},{"image_url":{"url":"https:\/\/example.com\/cat.jpg"},"type":"image_url"}],"role":"user"}"#)
        let plain = String(decoding: try encoder.encode(OpenAIWire.Message(ChatMessage(id: "m", role: .user, content: "hi"))), as: UTF8.self)
        #expect(plain == #"{"content":"hi","role":"user"}"#)
    }
}

/// A request's sampling parameters reach an OpenAI-compatible model server as OpenAI names them.
@Suite struct OpenAIRequestParameterTests {
    @Test func parametersAreSentWhenSet() throws {
        var settings = OpenAIChatModel.Settings(baseURL: "http://127.0.0.1:9/v1", model: "m", temperature: 0.2, maxTokens: 50)
        (settings.topP, settings.stop, settings.seed, settings.responseFormat) = (0.9, ["END"], 7, ["type": "json_object"])
        let model = OpenAIChatModel(settings: settings, client: .shared)
        let body = try JSONSerialization.jsonObject(with: Data(try model.body(for: ModelRequest(model: "m", messages: [ChatMessage(id: "1", role: .user, content: "hi")])))) as? [String: Any]
        #expect(body?["top_p"] as? Double == 0.9 && body?["stop"] as? [String] == ["END"] && body?["seed"] as? Int == 7)
        #expect((body?["response_format"] as? [String: String]) == ["type": "json_object"])
        #expect(body?["temperature"] as? Double == 0.2 && body?["max_tokens"] as? Int == 50)
        let plain = try JSONSerialization.jsonObject(with: Data(try OpenAIChatModel(settings: .init(baseURL: "x", model: "m"), client: .shared)
            .body(for: ModelRequest(model: "m", messages: [])))) as? [String: Any]
        #expect(plain?["top_p"] == nil && plain?["seed"] == nil && plain?["stop"] == nil)
    }
}
