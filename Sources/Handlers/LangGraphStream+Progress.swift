import Runs

/// The stream modes that follow the graph's steps: `tasks`, `checkpoints`, `debug` (the two wrapped, as LangGraph's
/// server sends them) and `events`, from what `LangGraphProgress` yields for each log event.
extension LangGraphRenderer {
    func progressFrames(_ event: RunLogEvent) -> [Frame] {
        guard let tracking else { return [] }
        let (modes, timestamp) = (self.modes, self.timestamp)
        return tracking.withLock { tracking in
            let items = tracking.progress.advance(event)
            let progress = tracking.progress
            var frames: [Frame] = []
            if case .started = event, let root = tracking.events?.frames(event, progress: progress) {
                frames += root.map { ("events", $0) }
            }
            for item in items {
                switch item {
                case .checkpoint(let checkpoint):
                    if modes.contains(.checkpoints) { frames.append(("checkpoints", encodeJSON(checkpoint))) }
                case .taskStarted(let task):
                    if modes.contains(.tasks) { frames.append(("tasks", encodeJSON(task))) }
                case .taskFinished(let result):
                    if modes.contains(.tasks) { frames.append(("tasks", encodeJSON(result))) }
                }
                if modes.contains(.debug) { frames.append(("debug", encodeJSON(LangGraphDebugFrame(item: item, timestamp: timestamp)))) }
                if let events = tracking.events?.frames(item, progress: progress) {
                    frames += events.map { ("events", $0) }
                }
            }
            if case .started = event { return frames }
            if let events = tracking.events?.frames(event, progress: progress) {
                frames += events.map { ("events", $0) }
            }
            return frames
        }
    }
}
