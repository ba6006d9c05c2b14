import AgentRuntime

extension OpenAPIDocument {
    static func runOperations(stream: Bool, thread: Bool) -> Operation {
        Operation(
            tag: thread ? "runs" : "stateless runs",
            description: stream
                ? "Server-Sent Events: `metadata` first (run id), then the frames of the requested stream modes, then `end`. Every frame has `id:`; on a thread the ids number the frames rendered from the run's event log, so `Last-Event-ID` resumes through any worker (see `Location`)."
                : nil,
            body: .json(thread ? "RunCreate" : "RunCreateStateless"),
            parameters: thread ? [idempotencyKey] : [],
            responses: [(200, stream ? "The run's events" : "The final state", stream ? .eventStream : .json("Values"))],
            problems: bodyProblems + [404] + (thread ? [409] : []) + [502, 504])
    }

    static func runRead(_ summary: String, _ content: Content, problems: [Int] = [404], parameters: [Parameter] = [],
                        extra: [(Int, String, Content)] = [], description: String? = nil) -> Operation {
        Operation(tag: "runs", description: description, body: nil, parameters: parameters,
                  responses: [(200, summary, content)] + extra, problems: problems)
    }
}

/// Stateless runs (`RunEndpoints`), threads (`ThreadEndpoints`) and their runs (`ThreadRunEndpoints`).
extension OpenAPIDocument.Operation {
    static let runWait = OpenAPIDocument.runOperations(stream: false, thread: false)
    static let runStream = OpenAPIDocument.runOperations(stream: true, thread: false)
    static let threadCreate = OpenAPIDocument.Operation(tag: "threads", body: .optionalJSON("ThreadCreate"), parameters: [OpenAPIDocument.idempotencyKey],
                                       responses: [(200, "The thread", .json("Thread"))], problems: OpenAPIDocument.bodyProblems + [409])
    static let threadSearch = OpenAPIDocument.Operation(tag: "threads", body: .optionalJSON("ThreadSearch"),
                                       responses: [(200, "Matching threads, newest first", .jsonArray("Thread"))], problems: OpenAPIDocument.bodyProblems)
    static let threadGet = OpenAPIDocument.Operation(tag: "threads", body: nil, responses: [(200, "The thread with its values", .json("Thread"))], problems: [404])
    static let threadUpdate = OpenAPIDocument.Operation(tag: "threads", body: .optionalJSON("ThreadUpdate"),
                                       parameters: [OpenAPIDocument.Parameter(name: "Prefer", location: "header", schema: ["type": "string"], description: "`return=minimal` answers 204.")],
                                       responses: [(200, "The thread", .json("Thread")), (204, "Updated (Prefer: return=minimal)", .empty)],
                                       problems: OpenAPIDocument.bodyProblems + [404])
    static let threadDelete = OpenAPIDocument.Operation(tag: "threads", body: nil, responses: [(204, "Deleted, with its runs and events", .empty)], problems: [404])
    static let threadState = OpenAPIDocument.Operation(tag: "threads", body: nil, responses: [(200, "The state after the last run", .json("ThreadState"))], problems: [404])
    static let threadStateAt = OpenAPIDocument.Operation(tag: "threads", body: nil, responses: [(200, "The state at the checkpoint", .json("ThreadState"))], problems: [404])
    static let threadHistoryGet = OpenAPIDocument.Operation(tag: "threads", body: nil,
                                            parameters: [OpenAPIDocument.limit, OpenAPIDocument.Parameter(name: "before", location: "query", schema: ["type": "string"], description: "A checkpoint id.")],
                                            responses: [(200, "States, newest first", .jsonArray("ThreadState"))], problems: [404, 422])
    static let threadHistory = OpenAPIDocument.Operation(tag: "threads", body: .optionalJSON("HistoryRequest"),
                                        responses: [(200, "States, newest first", .jsonArray("ThreadState"))], problems: OpenAPIDocument.bodyProblems + [404])
    static let threadRunStream = OpenAPIDocument.runOperations(stream: true, thread: true)
    static let threadRunWait = OpenAPIDocument.runOperations(stream: false, thread: true)
    static let threadRunCreate = OpenAPIDocument.Operation(tag: "runs", description: "Stored as pending and answered at once; an executor on any worker runs it.",
                                           body: .json("RunCreate"), parameters: [OpenAPIDocument.idempotencyKey],
                                           responses: [(200, "The queued run", .json("Run"))], problems: OpenAPIDocument.bodyProblems + [404, 409])
    static let runCreate = OpenAPIDocument.Operation(tag: "runs", description: "A background run on a new thread of its own.",
                                    body: .json("RunCreateUnthreaded"), parameters: [OpenAPIDocument.idempotencyKey],
                                    responses: [(200, "The queued run", .json("Run"))], problems: OpenAPIDocument.bodyProblems + [404])
    static let threadRunList = OpenAPIDocument.Operation(tag: "runs", body: nil,
                                         parameters: [OpenAPIDocument.limit, OpenAPIDocument.offset, OpenAPIDocument.Parameter(name: "status", location: "query",
                                                                               schema: ["type": "string", "enum": ["pending", "running", "success", "error", "timeout", "interrupted"]],
                                                                               description: "Only runs in this status.")],
                                         responses: [(200, "Runs, newest first", .jsonArray("Run"))], problems: [404, 422])
    static let runJoinWait = OpenAPIDocument.runRead("The thread's values once the run ended", .json("Values"))
    static let runGet = OpenAPIDocument.runRead("The run", .json("Run"))
    static let runDelete = OpenAPIDocument.Operation(tag: "runs", body: nil, responses: [(204, "Deleted", .empty)], problems: [404, 409])
    static let runCancel = OpenAPIDocument.Operation(
                tag: "runs", body: nil,
                parameters: [
                    OpenAPIDocument.Parameter(name: "action", location: "query", schema: ["type": "string", "enum": ["interrupt", "rollback", ""], "default": "interrupt"],
                              description: "interrupt keeps partial output; rollback undoes the run (empty: interrupt)."),
                    OpenAPIDocument.Parameter(name: "wait", location: "query", schema: ["type": "string", "enum": ["0", "1", "true", "false", ""], "default": "0"],
                              description: "1: answer once the run has stopped (empty: 0)."),
                ],
                responses: [(200, "Stopped (wait=1)", .json("Run")), (202, "Asked to stop", .json("Run")), (204, "Rolled back and gone", .empty)],
                problems: [404, 422])
    static let runJoin = OpenAPIDocument.runRead("The thread's values once the run ended", .json("Values"))
    static let runWebhooks = OpenAPIDocument.runRead("Webhook deliveries with every attempt", .jsonArray("WebhookDelivery"))
    static let runJoinStream = OpenAPIDocument.runRead(
                "The run's events", .eventStream, problems: [404, 422],
                parameters: [
                    OpenAPIDocument.Parameter(name: "Last-Event-ID", location: "header", schema: ["type": "string", "pattern": "^[ \\t]*(-1|-|[0-9]{0,18})[ \\t]*$"],
                              description: "Resume after this frame (blank or -1: from the start)."),
                    OpenAPIDocument.Parameter(name: "last_event_id", location: "query", schema: ["type": "string", "pattern": "^[ \\t]*(-1|-|[0-9]{0,18})[ \\t]*$"],
                              description: "The same, for clients that cannot set headers (given once; the header wins)."),
                    OpenAPIDocument.Parameter(name: "stream_mode", location: "query", schema: ["type": "array", "items": ["$ref": "#/components/schemas/StreamMode"]],
                              description: "These modes (repeat the parameter), whatever the run was created with; empty: the modes it was created with."),
                    OpenAPIDocument.Parameter(name: "cancel_on_disconnect", location: "query", schema: ["type": "string", "enum": ["true", "false"]],
                              description: "true: leaving cancels the run."),
                ],
                description: "The run's events from its log in the requested stream modes, after `Last-Event-ID`, then the live tail until `end`, from whichever worker answers.")
}
