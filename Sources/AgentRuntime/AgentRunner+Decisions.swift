/// Carrying out a paused turn's calls as a person decided them (`approvals:`, breakpoints).
extension AgentRunner {
    /// The calls of the conversation's last turn that have no result yet: what a paused turn left to do. Calls with
    /// a result are never run again.
    public static func unanswered(_ messages: [ChatMessage]) -> [ToolCall] {
        guard let index = messages.lastIndex(where: { $0.role == .assistant && !$0.toolCalls.isEmpty }) else { return [] }
        let answered = Set(messages[(index + 1)...].filter { $0.role == .tool }.compactMap(\.toolCallID))
        return messages[index].toolCalls.filter { !answered.contains($0.id) }
    }

    /// A paused turn's calls as a person decided them: rejected ones answered with the rejection, edited ones run
    /// with their new arguments, the rest run as the model asked; results in the model's order.
    func runDecided(
        _ calls: [ToolCall], _ resume: ToolDecisions, agent: AgentDefinition, memory: (any MemoryBackend)?,
        emit: @escaping @Sendable (RunEvent) async throws -> Void
    ) async throws -> [ChatMessage] {
        var toRun: [ToolCall] = []
        for call in calls {
            switch resume.decisions[call.id] {
            case .edit(let arguments)?: toRun.append(ToolCall(id: call.id, name: call.name, arguments: arguments))
            case .reject?: break
            case .approve?, nil: toRun.append(call)
            }
        }
        var results: [String: ChatMessage] = [:]
        for message in try await runTools(toRun, agent: agent, memory: memory, emit: emit) {
            if let id = message.toolCallID { results[id] = message }
        }
        var messages: [ChatMessage] = []
        for call in calls {
            if let result = results[call.id] {
                messages.append(result)
            } else if case .reject(let reason)? = resume.decisions[call.id] {
                let text = ToolDecision.rejection(reason)
                try await emit(.toolFailed(call, error: text))
                // As a failed call reads (LangChain answers a rejection with an error tool message).
                let message = ChatMessage(id: makeID(), role: .tool, content: "error: " + text, name: call.name, toolCallID: call.id)
                try await emit(.messageCompleted(message))
                messages.append(message)
            }
        }
        return messages
    }
}
