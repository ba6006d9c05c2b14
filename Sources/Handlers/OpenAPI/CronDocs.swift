import AgentRuntime

/// Crons (`CronEndpoints`) and their bodies.
extension OpenAPIDocument.Operation {
    static let cronCreate = OpenAPIDocument.Operation(
        tag: "crons",
        description: "Each firing is a background run on a new thread, made under the limits of the key that made the cron (it stops, with `disabled_reason`, when that key is revoked). `on_run_completed: delete` (the default) deletes the thread once the run and its webhooks are done. Exactly once per scheduled time across every worker and host; after an outage, one catch-up run, then the schedule. At most 100 crons per tenant.",
        body: .json("CronCreate"), responses: [(200, "The cron", .json("Cron"))], problems: OpenAPIDocument.bodyProblems + [404, 409])
    static let cronCreateForThread = OpenAPIDocument.Operation(
        tag: "crons",
        description: "Each firing is a background run on this thread; a firing that finds the thread busy waits its turn (`multitask_strategy` enqueue) unless the body says otherwise.",
        body: .json("CronCreateForThread"), responses: [(200, "The cron", .json("Cron"))], problems: OpenAPIDocument.bodyProblems + [404, 409])
    static let cronSearch = OpenAPIDocument.Operation(
        tag: "crons", body: .optionalJSON("CronSearch"), responses: [(200, "Matching crons", .jsonArray("CronSelected"))],
        problems: OpenAPIDocument.bodyProblems)
    static let cronCount = OpenAPIDocument.Operation(
        tag: "crons", body: .optionalJSON("CronCount"), responses: [(200, "How many crons match", .json("Count"))],
        problems: OpenAPIDocument.bodyProblems)
    static let cronUpdate = OpenAPIDocument.Operation(
        tag: "crons",
        description: "Fields given replace the cron's; run fields replace those of its stored run request, which is checked again as a whole. A new schedule, zone or end, or a cron turned back on, goes on from now. `end_time: null` clears the end.",
        body: .optionalJSON("CronUpdate"), responses: [(200, "The cron", .json("Cron"))], problems: OpenAPIDocument.bodyProblems + [404])
    static let cronDelete = OpenAPIDocument.Operation(
        tag: "crons", description: "Runs already fired are kept.", body: nil, responses: [(204, "Deleted", .empty)], problems: [404])
}

enum CronSchemas {
    /// A search's crons: every field of `Cron`, or those `select` names.
    static var components: JSONValue {
        guard case .object(var schemas) = written, case .object(var selected)? = schemas["Cron"] else { return written }
        selected["required"] = nil
        selected["description"] = "A cron with the fields `select` names (every field when it names none)."
        schemas["CronSelected"] = .object(selected)
        // A thread's cron keeps its thread: `on_run_completed` is refused there (422).
        if case .object(var create)? = schemas["CronCreate"], case .array(var parts)? = create["allOf"] {
            parts.append(.object(["not": .object(["required": .array([.string("on_run_completed")])])]))
            create["allOf"] = .array(parts)
            create["examples"] = nil
            schemas["CronCreateForThread"] = .object(create)
        }
        // A count reads the filters only.
        if case .object(var count)? = schemas["CronSearch"], case .object(var properties)? = count["properties"] {
            for key in ["select", "sort_by", "sort_order", "limit", "offset"] { properties[key] = nil }
            count["properties"] = .object(properties)
            schemas["CronCount"] = .object(count)
        }
        return .object(schemas)
    }

    static let written: JSONValue = APISchemas.parse(#"""
    {
      "CronFields": {
        "type": "object",
        "properties": {
          "schedule": {"type": "string", "format": "cron", "maxLength": 256, "description": "A cron expression: five fields (minute hour day-of-month month day-of-week) with ranges, lists, steps and names, or a macro (@hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually); no seconds."},
          "timezone": {"type": ["string", "null"], "format": "iana-time-zone", "maxLength": 64, "description": "IANA zone the schedule is read in (UTC when null). A time in the hour skipped by daylight saving fires once just after it; a time in the repeated hour fires once."},
          "end_time": {"type": ["string", "null"], "format": "date-time", "description": "No firing after this instant."},
          "enabled": {"type": "boolean", "default": true},
          "on_run_completed": {"type": "string", "enum": ["delete", "keep"], "default": "delete", "description": "Crons without a thread: delete or keep each firing's thread once its run ended."}
        }
      },
      "CronCreate": {
        "allOf": [{"$ref": "#/components/schemas/RunCreateUnthreaded"}, {"$ref": "#/components/schemas/CronFields"}, {"required": ["schedule"], "properties": {"schedule": {"type": "string"}}}],
        "examples": [{"assistant_id": "assistant", "schedule": "0 9 * * 1-5", "timezone": "Europe/Berlin",
                      "input": {"messages": [{"role": "user", "content": "Summarise yesterday's tickets"}]}}]
      },
      "CronUpdate": {"allOf": [{"$ref": "#/components/schemas/RunFields"}, {"$ref": "#/components/schemas/CronFields"}]},
      "CronSearch": {
        "type": "object",
        "properties": {
          "assistant_id": {"type": "string"}, "thread_id": {"type": "string"}, "enabled": {"type": "boolean"}, "metadata": {"type": "object"},
          "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
          "offset": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0},
          "sort_by": {"type": "string", "enum": ["cron_id", "assistant_id", "thread_id", "created_at", "updated_at", "next_run_date", "end_time"], "default": "created_at"},
          "sort_order": {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
          "select": {"type": "array", "description": "The fields to answer with (every field when empty or absent).", "items": {"type": "string", "enum": ["cron_id", "assistant_id", "thread_id", "end_time", "schedule", "timezone", "created_at", "updated_at", "user_id", "payload", "next_run_date", "metadata", "now", "on_run_completed", "enabled"]}}
        }
      },
      "Cron": {
        "type": "object",
        "required": ["cron_id", "assistant_id", "thread_id", "schedule", "created_at", "updated_at", "payload", "next_run_date", "metadata", "enabled"],
        "properties": {
          "cron_id": {"type": "string"}, "assistant_id": {"type": "string"}, "thread_id": {"type": ["string", "null"]},
          "on_run_completed": {"type": ["string", "null"], "enum": ["delete", "keep", null]},
          "end_time": {"type": ["string", "null"], "format": "date-time"}, "schedule": {"type": "string"},
          "timezone": {"type": ["string", "null"]}, "created_at": {"type": "string", "format": "date-time"},
          "updated_at": {"type": "string", "format": "date-time"}, "payload": {"type": "object", "description": "The run request each firing makes."},
          "user_id": {"type": ["string", "null"]},
          "next_run_date": {"type": ["string", "null"], "format": "date-time", "description": "null when the cron is off or its schedule has ended."},
          "metadata": {"type": "object"}, "enabled": {"type": "boolean"},
          "disabled_reason": {"type": ["string", "null"], "description": "Why the server turned the cron off (key_revoked)."},
          "now": {"type": "string", "format": "date-time", "description": "The server's time (only when `select` names it)."}
        }
      }
    }
    """#)
}
