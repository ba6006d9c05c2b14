import Foundation
import Store
import Testing

extension StoreConformance {
    func assistantsLifecycle() async throws {
        let store = try makeStore(), other = try makeStore()
        let new = NewAssistant(id: "a1", tenant: "t1", graphID: "echo", name: "Support", description: "helps",
                               config: #"{"configurable":{"model":"m1"},"tags":["x"]}"#, context: #"{"lang":"en"}"#,
                               metadata: #"{"team":"ops","n":1,"flag":true}"#, now: clock.now)
        let created = try await store.createAssistant(new, ifExists: .raise)
        #expect(created.id == "a1" && created.tenant == "t1" && created.graphID == "echo" && created.name == "Support")
        #expect(created.description == "helps" && created.version == 1)
        #expect(created.createdAt == clock.now && created.updatedAt == clock.now)
        #expect(try json(created.config) == json(new.config) && json(created.context) == json(new.context))
        #expect(try json(created.metadata) == json(new.metadata))
        #expect(try await other.assistant(tenant: "t1", id: "a1") == created)

        await #expect(throws: StoreError.assistantExists("a1")) {
            _ = try await other.createAssistant(NewAssistant(id: "a1", tenant: "t1", graphID: "x", name: "x"), ifExists: .raise)
        }
        clock.advance(1)
        let kept = try await other.createAssistant(NewAssistant(id: "a1", tenant: "t1", graphID: "x", name: "x", now: clock.now),
                                                   ifExists: .doNothing)
        #expect(kept == created)

        // The same id in another tenant is another assistant; neither sees, changes or removes the other's.
        let theirs = try await store.createAssistant(NewAssistant(id: "a1", tenant: "t2", graphID: "other", name: "Theirs",
                                                                  now: clock.now), ifExists: .raise)
        #expect(theirs.description == nil && theirs.version == 1)
        #expect(try await store.assistant(tenant: "t2", id: "a1")?.graphID == "other")
        #expect(try await store.assistant(tenant: "t1", id: "a1")?.graphID == "echo")
        #expect(try await store.assistant(tenant: "t3", id: "a1") == nil)

        // An update makes version 2: metadata merged by top-level key, config replaced, the rest kept.
        clock.advance(5)
        let updated = try #require(try await other.updateAssistant(
            tenant: "t1", id: "a1", AssistantChange(config: #"{"configurable":{"model":"m2"}}"#,
                                                    metadata: #"{"n":2,"extra":{"k":null},"flag":false}"#), now: clock.now))
        #expect(updated.version == 2 && updated.name == "Support" && updated.description == "helps" && updated.graphID == "echo")
        #expect(try json(updated.config) == json(#"{"configurable":{"model":"m2"}}"#))
        #expect(try json(updated.context) == json(#"{"lang":"en"}"#))
        #expect(try json(updated.metadata) == json(#"{"team":"ops","n":2,"extra":{"k":null},"flag":false}"#))
        #expect(updated.createdAt == created.createdAt && updated.updatedAt == clock.now)
        #expect(try await store.assistant(tenant: "t1", id: "a1") == updated)
        #expect(try await store.assistant(tenant: "t2", id: "a1") == theirs)
        #expect(try await store.updateAssistant(tenant: "t1", id: "nope", AssistantChange(name: "n"), now: clock.now) == nil)
        #expect(try await store.updateAssistant(tenant: "t3", id: "a1", AssistantChange(name: "n"), now: clock.now) == nil)

        clock.advance(5)
        let renamed = try #require(try await store.updateAssistant(
            tenant: "t1", id: "a1", AssistantChange(graphID: "echo2", name: "Helpdesk", description: "new", context: "{}",
                                                    metadata: #"{"team":"dev"}"#), now: clock.now))
        #expect(renamed.version == 3 && renamed.graphID == "echo2" && renamed.name == "Helpdesk" && renamed.description == "new")
        #expect(try json(renamed.config) == json(updated.config) && json(renamed.context) == json("{}"))
        #expect(try json(renamed.metadata) == json(#"{"team":"dev","n":2,"extra":{"k":null},"flag":false}"#))

        // History: newest first, each version as it was made, its times both its own.
        let versions = try await other.assistantVersions(tenant: "t1", id: "a1", metadata: [], limit: 10, offset: 0)
        #expect(versions.map(\.version) == [3, 2, 1])
        #expect(versions.map(\.name) == ["Helpdesk", "Support", "Support"])
        #expect(versions[1].createdAt == updated.updatedAt && versions[1].updatedAt == updated.updatedAt)
        #expect(versions[2].createdAt == created.createdAt && versions[2].updatedAt == created.createdAt)
        #expect(try json(versions[2].metadata) == json(new.metadata) && json(versions[2].config) == json(new.config))
        #expect(try await store.assistantVersions(tenant: "t1", id: "a1", metadata: [("team", #""ops""#)], limit: 10, offset: 0)
            .map(\.version) == [2, 1])
        #expect(try await store.assistantVersions(tenant: "t1", id: "a1", metadata: [("n", "2")], limit: 10, offset: 0)
            .map(\.version) == [3, 2])
        #expect(try await store.assistantVersions(tenant: "t1", id: "a1", metadata: [("n", #""2""#)], limit: 10, offset: 0).isEmpty)
        #expect(try await store.assistantVersions(tenant: "t1", id: "a1", metadata: [], limit: 1, offset: 1).map(\.version) == [2])
        #expect(try await store.assistantVersions(tenant: "t2", id: "a1", metadata: [], limit: 10, offset: 0).map(\.graphID) == ["other"])
        #expect(try await store.assistantVersions(tenant: "t1", id: "nope", metadata: [], limit: 10, offset: 0).isEmpty)

        // Back to version 1: its fields current again, the time of the choice as updatedAt.
        clock.advance(5)
        let back = try #require(try await other.setAssistantVersion(tenant: "t1", id: "a1", version: 1, now: clock.now))
        #expect(back.version == 1 && back.name == "Support" && back.graphID == "echo" && back.description == "helps")
        #expect(try json(back.config) == json(new.config) && json(back.metadata) == json(new.metadata))
        #expect(back.createdAt == created.createdAt && back.updatedAt == clock.now)
        #expect(try await store.assistant(tenant: "t1", id: "a1") == back)
        #expect(try await store.setAssistantVersion(tenant: "t1", id: "a1", version: 9, now: clock.now) == nil)
        #expect(try await store.setAssistantVersion(tenant: "t2", id: "a1", version: 3, now: clock.now) == nil)
        #expect(try await store.setAssistantVersion(tenant: "t1", id: "nope", version: 1, now: clock.now) == nil)
        #expect(try await store.assistant(tenant: "t1", id: "a1") == back)
        #expect(try await store.assistant(tenant: "t2", id: "a1") == theirs)
        // The next version is above every version so far, and made from the current (1), not the newest (3).
        let fourth = try #require(try await store.updateAssistant(tenant: "t1", id: "a1", AssistantChange(), now: clock.now))
        #expect(fourth.version == 4 && fourth.name == "Support" && fourth.graphID == "echo")

        // Deleting takes every version with it, in that tenant only.
        #expect(try await other.deleteAssistant(tenant: "t2", id: "a1"))
        #expect(try await store.assistant(tenant: "t2", id: "a1") == nil)
        #expect(try await store.assistantVersions(tenant: "t2", id: "a1", metadata: [], limit: 10, offset: 0).isEmpty)
        #expect(try await !store.deleteAssistant(tenant: "t2", id: "a1"))
        #expect(try await store.assistant(tenant: "t1", id: "a1") == fourth)
        #expect(try await store.assistantVersions(tenant: "t1", id: "a1", metadata: [], limit: 10, offset: 0).count == 4)
        #expect(try await store.deleteAssistant(tenant: "t1", id: "a1"))
        #expect(try await store.assistant(tenant: "t1", id: "a1") == nil)
        #expect(try await store.assistantVersions(tenant: "t1", id: "a1", metadata: [], limit: 10, offset: 0).isEmpty)
        #expect(try await !store.deleteAssistant(tenant: "t1", id: "a1"))
        // The id is free again, at version 1.
        #expect(try await store.createAssistant(NewAssistant(id: "a1", tenant: "t1", graphID: "g", name: "n", now: clock.now),
                                                ifExists: .raise).version == 1)
    }

    func assistantSearch() async throws {
        let store = try makeStore()
        let specs: [(id: String, graph: String, name: String, metadata: String)] = [
            ("b", "echo", "Billing Bot", #"{"team":"ops","n":2}"#),
            ("a", "echo", "billing helper", #"{"team":"ops","n":"2"}"#),
            ("d", "plan", "100% sure", #"{"team":"dev"}"#),
            ("c", "plan", "snake_case", #"{"team":"dev","n":2}"#),
            ("e", "echo", "zeta", "{}"),
        ]
        for spec in specs {
            clock.advance(1)
            _ = try await store.createAssistant(NewAssistant(id: spec.id, tenant: "t", graphID: spec.graph, name: spec.name,
                                                             metadata: spec.metadata, now: clock.now), ifExists: .raise)
        }
        _ = try await store.createAssistant(NewAssistant(id: "x", tenant: "u", graphID: "echo", name: "Billing", now: clock.now),
                                            ifExists: .raise)
        func ids(_ query: AssistantQuery) async throws -> [String] { try await store.searchAssistants(query).map(\.id) }

        // Newest first by default.
        #expect(try await ids(AssistantQuery(tenant: "t")) == ["e", "c", "d", "a", "b"])
        #expect(try await ids(AssistantQuery(tenant: "t", descending: false)) == ["b", "a", "d", "c", "e"])
        #expect(try await ids(AssistantQuery(tenant: "u")) == ["x"])
        #expect(try await ids(AssistantQuery(tenant: "nobody")).isEmpty)
        #expect(try await ids(AssistantQuery(tenant: "t", graphID: "plan")) == ["c", "d"])
        #expect(try await ids(AssistantQuery(tenant: "t", graphID: "pla")).isEmpty)
        #expect(try await ids(AssistantQuery(tenant: "t", name: "BILLING")) == ["a", "b"])
        #expect(try await ids(AssistantQuery(tenant: "t", name: "ing b")) == ["b"])
        // % and _ are characters, not wildcards.
        #expect(try await ids(AssistantQuery(tenant: "t", name: "%")) == ["d"])
        #expect(try await ids(AssistantQuery(tenant: "t", name: "0% s")) == ["d"])
        #expect(try await ids(AssistantQuery(tenant: "t", name: "_")) == ["c"])
        #expect(try await ids(AssistantQuery(tenant: "t", name: "e_c")) == ["c"])
        #expect(try await ids(AssistantQuery(tenant: "t", name: "b%t")).isEmpty)
        #expect(try await ids(AssistantQuery(tenant: "t", name: "z_ta")).isEmpty)
        // 2 and "2" are different values.
        #expect(try await ids(AssistantQuery(tenant: "t", metadata: [("n", "2")])) == ["c", "b"])
        #expect(try await ids(AssistantQuery(tenant: "t", metadata: [("n", #""2""#)])) == ["a"])
        #expect(try await ids(AssistantQuery(tenant: "t", metadata: [("team", #""ops""#), ("n", "2")])) == ["b"])
        #expect(try await ids(AssistantQuery(tenant: "t", graphID: "echo", name: "bill", metadata: [("team", #""ops""#)])) == ["a", "b"])

        // Sorts, with ties broken by id; then offset and limit.
        #expect(try await ids(AssistantQuery(tenant: "t", sortBy: .name, descending: false)) == ["d", "b", "a", "c", "e"])
        #expect(try await ids(AssistantQuery(tenant: "t", sortBy: .name, descending: true)) == ["e", "c", "a", "b", "d"])
        #expect(try await ids(AssistantQuery(tenant: "t", sortBy: .assistantID, descending: false)) == ["a", "b", "c", "d", "e"])
        #expect(try await ids(AssistantQuery(tenant: "t", sortBy: .graphID, descending: false)) == ["a", "b", "e", "c", "d"])
        #expect(try await ids(AssistantQuery(tenant: "t", sortBy: .createdAt, descending: false, limit: 2, offset: 1)) == ["a", "d"])
        #expect(try await ids(AssistantQuery(tenant: "t", sortBy: .createdAt, limit: 2)) == ["e", "c"])
        #expect(try await ids(AssistantQuery(tenant: "t", offset: 4)) == ["b"])
        #expect(try await ids(AssistantQuery(tenant: "t", offset: 5)).isEmpty)

        // The current version is what search sees: its name, metadata and update time.
        clock.advance(10)
        _ = try await store.updateAssistant(tenant: "t", id: "b", AssistantChange(name: "Ledger", metadata: #"{"n":3}"#), now: clock.now)
        #expect(try await ids(AssistantQuery(tenant: "t", name: "billing")) == ["a"])
        #expect(try await ids(AssistantQuery(tenant: "t", metadata: [("n", "2")])) == ["c"])
        #expect(try await ids(AssistantQuery(tenant: "t", sortBy: .updatedAt)) == ["b", "e", "c", "d", "a"])
        // Created when it was made, not when it last changed.
        #expect(try await ids(AssistantQuery(tenant: "t", sortBy: .createdAt)) == ["e", "c", "d", "a", "b"])
        _ = try await store.setAssistantVersion(tenant: "t", id: "b", version: 1, now: clock.now)
        #expect(try await ids(AssistantQuery(tenant: "t", name: "billing")) == ["a", "b"])

        // Counts ignore limit and offset.
        #expect(try await store.countAssistants(AssistantQuery(tenant: "t")) == 5)
        #expect(try await store.countAssistants(AssistantQuery(tenant: "t", limit: 1, offset: 3)) == 5)
        #expect(try await store.countAssistants(AssistantQuery(tenant: "t", graphID: "echo")) == 3)
        #expect(try await store.countAssistants(AssistantQuery(tenant: "t", name: "_")) == 1)
        #expect(try await store.countAssistants(AssistantQuery(tenant: "t", metadata: [("team", #""dev""#)])) == 2)
        #expect(try await store.countAssistants(AssistantQuery(tenant: "u")) == 1)
        #expect(try await store.countAssistants(AssistantQuery(tenant: "nobody")) == 0)
    }

    /// A tenant stops at `StoreLimits.maxAssistantsPerTenant`, also when workers race for the last places.
    func assistantLimit() async throws {
        let store = try makeStore(), other = try makeStore()
        let limit = StoreLimits.maxAssistantsPerTenant
        let racing = 10
        for index in 0..<(limit - racing / 2) {
            _ = try await store.createAssistant(NewAssistant(id: "a\(index)", tenant: "full", graphID: "g", name: "n", now: clock.now),
                                                ifExists: .raise)
        }
        let results = await withTaskGroup(of: Result<AssistantRecord, any Error>.self) { group in
            for index in 0..<racing {
                let worker = index.isMultiple(of: 2) ? store : other
                group.addTask { [clock] in
                    do {
                        return .success(try await worker.createAssistant(
                            NewAssistant(id: "r\(index)", tenant: "full", graphID: "g", name: "n", now: clock.now), ifExists: .raise))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter { (try? $0.get()) != nil }.count == racing / 2)
        for case .failure(let error) in results {
            #expect(error as? StoreError == .assistantLimit(limit: limit))
        }
        #expect(try await store.countAssistants(AssistantQuery(tenant: "full")) == limit)
        await #expect(throws: StoreError.assistantLimit(limit: limit)) {
            _ = try await other.createAssistant(NewAssistant(id: "more", tenant: "full", graphID: "g", name: "n"), ifExists: .raise)
        }
        // Nothing is made: an existing id is still found, or still refused, at the limit.
        #expect(try await store.createAssistant(NewAssistant(id: "a0", tenant: "full", graphID: "x", name: "x"), ifExists: .doNothing)
            .graphID == "g")
        await #expect(throws: StoreError.assistantExists("a0")) {
            _ = try await store.createAssistant(NewAssistant(id: "a0", tenant: "full", graphID: "g", name: "n"), ifExists: .raise)
        }
        // Updates make versions, not assistants.
        #expect(try await store.updateAssistant(tenant: "full", id: "a0", AssistantChange(name: "m"), now: clock.now)?.version == 2)
        // Per tenant: another still has room, and a deletion makes room.
        _ = try await store.createAssistant(NewAssistant(id: "a0", tenant: "other", graphID: "g", name: "n"), ifExists: .raise)
        #expect(try await store.deleteAssistant(tenant: "full", id: "a1"))
        _ = try await other.createAssistant(NewAssistant(id: "more", tenant: "full", graphID: "g", name: "n"), ifExists: .raise)
    }
}
