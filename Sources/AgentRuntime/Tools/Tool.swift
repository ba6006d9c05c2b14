import Foundation

/// What a model is told about a tool: its name, what it does, and a JSON Schema of its arguments.
public struct ToolSpec: Sendable, Equatable, Codable {
    public var name: String
    public var description: String
    public var parameters: JSONValue

    public init(name: String, description: String, parameters: JSONValue) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

/// A tool an agent can call. Arguments arrive already checked against `spec.parameters`.
public protocol Tool: Sendable {
    var spec: ToolSpec { get }
    /// False when running it twice has effects that running it once does not (a run that is retried after a
    /// crash must not repeat it silently).
    var isIdempotent: Bool { get }
    func run(_ arguments: [String: JSONValue]) async throws -> String
}

/// A failure the model should hear about (bad input, an unknown time zone): it becomes the tool's answer.
public struct ToolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One requested call of a tool, as a model asks for it: `arguments` is the JSON text the model wrote.
public struct ToolCall: Sendable, Equatable {
    public var id: String
    public var name: String
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// A tool with the limits an agent's configuration gives it.
public struct ConfiguredTool: Sendable {
    public var tool: any Tool
    public var timeout: Duration
    /// The tool's own answer unless the configuration says otherwise (`idempotent: false`).
    public var isIdempotent: Bool

    public init(_ tool: any Tool, timeout: Duration = .seconds(10), idempotent: Bool? = nil) {
        self.tool = tool
        self.timeout = timeout
        self.isIdempotent = idempotent ?? tool.isIdempotent
    }

    public var spec: ToolSpec { tool.spec }

    public enum Outcome: Sendable, Equatable {
        case success(String)
        /// Invalid arguments, a tool error or a timeout, worded for the model.
        case failure(String)
    }

    /// Validates the arguments, runs the tool under its timeout and turns every failure into words.
    /// Cancellation of the caller still propagates.
    public func invoke(arguments text: String, clock: any Clock<Duration>) async throws -> Outcome {
        let parsed: JSONValue
        do {
            parsed = try JSONDecoder().decode(JSONValue.self, from: Data((text.isEmpty ? "{}" : text).utf8))
        } catch {
            return .failure("invalid arguments: not valid JSON")
        }
        return try await invoke(arguments: parsed, clock: clock)
    }

    public func invoke(arguments: JSONValue, clock: any Clock<Duration>) async throws -> Outcome {
        let violations = JSONSchemaValidator.validate(arguments, against: spec.parameters)
        guard violations.isEmpty, case .object(let object) = arguments else {
            let reasons = violations.isEmpty ? ["must be a JSON object"] : violations.map(\.description)
            return .failure("invalid arguments: " + reasons.joined(separator: "; "))
        }
        let tool = self.tool
        let timeout = self.timeout
        return try await withThrowingTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                do {
                    return .success(try await tool.run(object))
                } catch let error as ToolError {
                    return .failure(error.message)
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    return .failure("the tool failed")
                }
            }
            group.addTask {
                try await clock.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                return next ?? .failure("timed out after \(timeout.formatted(.units(allowed: [.seconds, .milliseconds])))")
            }
            throw CancellationError()
        }
    }
}
