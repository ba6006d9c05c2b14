import AgentRuntime

/// The run request's schemas, completed from the configuration: the agents by id, the rules between fields that
/// `RunPlan` checks, and the variants for runs without a thread (which have no checkpoint to go back to) and for
/// stateless runs (nothing kept, so no webhook).
enum RunSchemas {
    /// Properties whose decoding refuses `null` although they are optional, by component.
    static let strictNulls: [String: Set<String>] = [
        // `InputMessage.init(from:)`: a role (or type) and content that are there must be a string.
        "InputMessage": ["role", "type", "content"],
        // `ThreadStateEndpoints.stateMessage`: the same, and a call's id and name.
        "StateMessage": ["role", "type", "content"],
        "StateToolCall": ["id", "function.name"],
        // `AssistantSettings.init`: a setting that is there must have its type.
        "AssistantSettings": ["instructions", "system_prompt", "temperature", "max_tokens", "top_p", "tools"],
        "AssistantConfig": ["configurable", "tags"],
        // A cron's update replaces the stored request's keys with the ones sent, null too: no agent, no messages.
        "RunFields": ["assistant_id", "agent_id", "input", "messages"],
        // `ChatCompletionPlan`: a thread_id in metadata must be a string.
        "ChatCompletionRequest": ["metadata.thread_id"],
    ]

    /// `WebhookPolicy.check` with this configuration: no webhooks without a signing secret; only the allowed hosts when
    /// there is a list; otherwise any public host (which a pattern cannot tell from an internal one: described only).
    static func webhook(_ settings: WebhookSettings) -> JSONValue {
        let events = "Receives run.completed / run.failed / run.cancelled / run.interrupted (paused for approval), signed (Standard Webhooks)."
        guard settings.secretEnvironment != nil else {
            return ["type": "null", "description": "Webhooks are off on this server (no webhooks.secret_env)."]
        }
        guard !settings.allowHosts.isEmpty else {
            return ["type": "string", "format": "uri", "maxLength": 2048, "pattern": "^https?://[^\\u0000]*$",
                    "description": .string(events + " An http(s) URL without credentials of a public host.")]
        }
        let hosts = settings.allowHosts.map { $0.replacingOccurrences(of: ".", with: "\\.") }.joined(separator: "|")
        return ["type": "string", "maxLength": 2048, "pattern": .string("^https?://(\(hosts))(:[0-9]{1,5})?([/?#][!-~]*)?$"),
                "description": .string(events + " An http(s) URL of a host in webhooks.allow_hosts: \(settings.allowHosts.joined(separator: ", ")).")]
    }

    static func complete(_ schemas: inout [String: JSONValue], catalog: AgentCatalog) {
        guard case .object(var runCreate)? = schemas["RunCreate"], case .object(var properties)? = runCreate["properties"] else { return }
        // The configured agents, by id, so that clients and the docs page offer them.
        let agents = catalog.agents.map(\.id).map(JSONValue.string)
        let list = catalog.agents.map { "`\($0.id)`: \($0.description.isEmpty ? $0.name : $0.description)" }.joined(separator: "; ")
        properties["assistant_id"] = ["type": "string", "enum": .array(agents), "description": .string("The agent to run. \(list)")]
        properties["agent_id"] = ["type": "string", "enum": .array(agents), "description": "The same as assistant_id (Agent Protocol)."]
        properties["webhook"] = webhook(catalog.webhooks)
        runCreate["properties"] = .object(properties)

        // assistant_id or agent_id (Agent Protocol's name for it), not both: the other absent or null. Stated without
        // the agents' names, so that its cases do not multiply with every agent: schemathesis intersects a schema's
        // rules, and past a dozen agents could not spell the cron requests out.
        let both: JSONValue = ["required": ["assistant_id", "agent_id"],
                               "properties": ["assistant_id": ["type": "string"], "agent_id": ["type": "string"]]]
        let only: (String, String) -> JSONValue = { name, other in
            ["required": [.string(name)], "properties": [name: ["type": "string"], other: ["type": "null"]]]
        }
        // input (with messages) or messages, not both.
        let inputAndMessages: JSONValue = ["required": ["input", "messages"],
                                           "properties": ["input": ["type": "object"], "messages": ["type": "array"]]]
        let rules: [JSONValue] = [
            ["anyOf": [only("assistant_id", "agent_id"), only("agent_id", "assistant_id")]],
            // Input or messages, or (on a thread waiting for approval) a command answering it, and nothing else of these.
            ["oneOf": [["required": ["input"], "properties": ["input": ["type": "object"]], "not": ["required": ["command"]]],
                       ["required": ["messages"], "properties": ["messages": ["type": "array"]], "not": ["required": ["command"]]],
                       ["required": ["command"], "properties": ["command": ["type": "object"]],
                        "not": ["anyOf": [["required": ["input"]], ["required": ["messages"]]]]]]],
        ]
        // checkpoint_id and checkpoint's id, when both are given, are the same (a 422 otherwise): equality of two free
        // strings, which a schema cannot state; test_schemathesis.py lets that refusal pass.
        runCreate["allOf"] = .array(rules)
        schemas["RunCreate"] = .object(runCreate)

        // Without a thread there is no checkpoint to start from (a 422); a checkpoint object without an id is the latest state.
        var unthreaded = runCreate
        properties["checkpoint_id"] = ["type": "null", "description": "Only runs on a thread start from a checkpoint."]
        properties["checkpoint"] = ["type": "object", "properties": ["checkpoint_id": ["type": "null"]],
                                    "description": "Only runs on a thread start from a checkpoint: an object without checkpoint_id (the latest state) at most."]
        properties["command"] = ["type": "null", "description": "Only runs on a thread answer an approval (422 without a thread)."]
        unthreaded["properties"] = .object(properties)
        unthreaded["description"] = "A run on a thread of its own (POST /runs, /runs/batch, a cron's runs): RunCreate without a checkpoint."
        schemas["RunCreateUnthreaded"] = .object(unthreaded)
        var fields = unthreaded
        fields["description"] = "The fields of a cron's run request, as an update sends some of them."
        fields["examples"] = nil
        fields["allOf"] = [["not": both], ["not": inputAndMessages]]
        schemas["RunFields"] = .object(fields)

        // Nothing of a stateless run is kept: nothing to deliver a webhook from.
        var stateless = unthreaded
        properties["webhook"] = ["type": "null", "description": "Only stored runs (POST /runs, POST /threads/{thread_id}/runs) call webhooks."]
        stateless["properties"] = .object(properties)
        stateless["description"] = "A stateless run (POST /runs/wait, /runs/stream): RunCreate without a checkpoint or a webhook; nothing is kept."
        schemas["RunCreateStateless"] = .object(stateless)
    }
}
