import Foundation
import Store
import Testing

extension StoreConformance {
    func itemsLifecycle() async throws {
        let store = try makeStore(), other = try makeStore()
        let created = clock.now
        try await store.putItem(NewItem(tenant: "t1", namespace: ["users", "u1"], key: "prefs", value: #"{"colour":"teal","n":1}"#))
        let item = try #require(try await other.item(tenant: "t1", namespace: ["users", "u1"], key: "prefs", refreshTTL: true))
        #expect(item.namespace == ["users", "u1"] && item.key == "prefs" && item.score == nil)
        #expect(try json(item.value) == json(#"{"colour":"teal","n":1}"#))
        #expect(item.createdAt == created && item.updatedAt == created)

        // Another tenant, another namespace or key: nothing.
        #expect(try await store.item(tenant: "t2", namespace: ["users", "u1"], key: "prefs", refreshTTL: true) == nil)
        #expect(try await store.item(tenant: "t1", namespace: ["users"], key: "prefs", refreshTTL: true) == nil)
        #expect(try await store.item(tenant: "t1", namespace: ["users", "u1"], key: "other", refreshTTL: true) == nil)

        // A put replaces the value and keeps created_at.
        clock.advance(5)
        try await other.putItem(NewItem(tenant: "t1", namespace: ["users", "u1"], key: "prefs", value: #"{"colour":"red"}"#))
        let replaced = try #require(try await store.item(tenant: "t1", namespace: ["users", "u1"], key: "prefs", refreshTTL: false))
        #expect(try json(replaced.value) == json(#"{"colour":"red"}"#))
        #expect(replaced.createdAt == created && replaced.updatedAt == clock.now)

        // The same namespace and key in another tenant is another item.
        try await store.putItem(NewItem(tenant: "t2", namespace: ["users", "u1"], key: "prefs", value: #"{"colour":"blue"}"#))
        #expect(try await store.searchItems(ItemQuery(tenant: "t1")).map(\.value).map(json) == [try json(#"{"colour":"red"}"#)])
        #expect(try await store.searchItems(ItemQuery(tenant: "t2")).map(\.value).map(json) == [try json(#"{"colour":"blue"}"#)])

        #expect(try await !store.deleteItem(tenant: "t3", namespace: ["users", "u1"], key: "prefs"))
        #expect(try await store.deleteItem(tenant: "t2", namespace: ["users", "u1"], key: "prefs"))
        #expect(try await !store.deleteItem(tenant: "t2", namespace: ["users", "u1"], key: "prefs"))
        #expect(try await store.item(tenant: "t2", namespace: ["users", "u1"], key: "prefs", refreshTTL: true) == nil)
        #expect(try await store.item(tenant: "t1", namespace: ["users", "u1"], key: "prefs", refreshTTL: true) != nil)
    }

    func itemTTL() async throws {
        let store = try makeStore()
        try await store.putItem(NewItem(tenant: "t", namespace: ["n"], key: "short", value: #"{"text":"apple pie"}"#, ttl: .seconds(60)))
        try await store.putItem(NewItem(tenant: "t", namespace: ["n"], key: "kept", value: #"{"text":"apple tart"}"#))
        // A read 50 s in starts the minute again; one without refreshing does not.
        clock.advance(50)
        #expect(try await store.item(tenant: "t", namespace: ["n"], key: "short", refreshTTL: true) != nil)
        clock.advance(50)
        #expect(try await store.item(tenant: "t", namespace: ["n"], key: "short", refreshTTL: false) != nil)
        // A search refreshes what it finds too.
        clock.advance(9)
        #expect(try await store.searchItems(ItemQuery(tenant: "t", query: "apple")).count == 2)
        clock.advance(59)
        #expect(try await store.searchItems(ItemQuery(tenant: "t", query: "pie", refreshTTL: false)).map(\.key) == ["short"])
        // Expired: invisible everywhere before the prune, then pruned; the other item stays.
        clock.advance(2)
        #expect(try await store.item(tenant: "t", namespace: ["n"], key: "short", refreshTTL: true) == nil)
        #expect(try await store.searchItems(ItemQuery(tenant: "t")).map(\.key) == ["kept"])
        #expect(try await store.searchItems(ItemQuery(tenant: "t", query: "pie")).isEmpty)
        try await store.putItem(NewItem(tenant: "t", namespace: ["gone"], key: "k", value: "{}", ttl: .seconds(1)))
        clock.advance(1)
        #expect(try await store.listNamespaces(NamespaceQuery(tenant: "t")) == [["n"]])
        #expect(try await store.pruneItems(now: clock.now) == 2)
        #expect(try await store.pruneItems(now: clock.now) == 0)
        #expect(try await store.searchItems(ItemQuery(tenant: "t")).map(\.key) == ["kept"])

        // An expired item put again is a new item: created now. A put without ttl keeps it for good.
        try await store.putItem(NewItem(tenant: "t", namespace: ["n"], key: "again", value: "{}", ttl: .seconds(1)))
        clock.advance(2)
        try await store.putItem(NewItem(tenant: "t", namespace: ["n"], key: "again", value: #"{"v":2}"#))
        let again = try #require(try await store.item(tenant: "t", namespace: ["n"], key: "again", refreshTTL: true))
        #expect(again.createdAt == clock.now)
        clock.advance(1_000_000)
        #expect(try await store.item(tenant: "t", namespace: ["n"], key: "again", refreshTTL: true) != nil)
    }

    func itemSearch() async throws {
        let store = try makeStore()
        let items: [(namespace: [String], key: String, value: String)] = [
            (["docs", "a"], "1", #"{"title":"Cats and dogs","n":1,"tag":"pets"}"#),
            (["docs", "a"], "2", #"{"title":"Dogs, dogs and more dogs","n":5,"tag":"pets","body":"dog training"}"#),
            (["docs", "b"], "3", #"{"title":"Gardening","n":10,"tag":"home"}"#),
            (["docs", "b", "deep"], "4", #"{"title":"Cat food","n":"5","tag":"pets","nested":{"text":"kibble"}}"#),
            (["docsx"], "5", #"{"title":"dogs elsewhere","n":7}"#),
        ]
        for item in items {
            clock.advance(1)
            try await store.putItem(NewItem(tenant: "t", namespace: item.namespace, key: item.key, value: item.value))
        }
        try await store.putItem(NewItem(tenant: "u", namespace: ["docs", "a"], key: "9", value: #"{"title":"dogs dogs dogs dogs"}"#))
        func keys(_ query: ItemQuery) async throws -> [String] { try await store.searchItems(query).map(\.key) }

        // Newest first without a query; a prefix is whole labels ("docs" is not "docsx").
        #expect(try await keys(ItemQuery(tenant: "t")) == ["5", "4", "3", "2", "1"])
        #expect(try await keys(ItemQuery(tenant: "t", namespacePrefix: ["docs"])) == ["4", "3", "2", "1"])
        #expect(try await keys(ItemQuery(tenant: "t", namespacePrefix: ["docs", "b"])) == ["4", "3"])
        #expect(try await keys(ItemQuery(tenant: "t", namespacePrefix: ["docs", "b", "deep"])) == ["4"])
        #expect(try await keys(ItemQuery(tenant: "t", namespacePrefix: ["doc"])).isEmpty)
        #expect(try await keys(ItemQuery(tenant: "t", limit: 2, offset: 1)) == ["4", "3"])

        // Filters on top-level keys: equality (5 is not "5"), and ranges of numbers with numbers only.
        let tagPets = ItemFilter(key: "tag", op: .eq, value: #""pets""#)
        #expect(try await keys(ItemQuery(tenant: "t", filters: [tagPets])) == ["4", "2", "1"])
        #expect(try await keys(ItemQuery(tenant: "t", filters: [ItemFilter(key: "n", op: .eq, value: "5")])) == ["2"])
        #expect(try await keys(ItemQuery(tenant: "t", filters: [ItemFilter(key: "n", op: .eq, value: #""5""#)])) == ["4"])
        #expect(try await keys(ItemQuery(tenant: "t", filters: [ItemFilter(key: "n", op: .gt, value: "5")])) == ["5", "3"])
        #expect(try await keys(ItemQuery(tenant: "t", filters: [ItemFilter(key: "n", op: .gte, value: "5")])) == ["5", "3", "2"])
        #expect(try await keys(ItemQuery(tenant: "t", filters: [ItemFilter(key: "n", op: .lt, value: "5")])) == ["1"])
        #expect(try await keys(ItemQuery(tenant: "t", filters: [ItemFilter(key: "n", op: .lte, value: "5.0")])) == ["2", "1"])
        #expect(try await keys(ItemQuery(tenant: "t", filters: [ItemFilter(key: "title", op: .lt, value: #""D""#)])) == ["4", "1"])
        // $ne: items without the key are not equal either.
        #expect(try await keys(ItemQuery(tenant: "t", filters: [ItemFilter(key: "tag", op: .ne, value: #""pets""#)])) == ["5", "3"])
        #expect(try await keys(ItemQuery(tenant: "t", filters: [tagPets, ItemFilter(key: "n", op: .gte, value: "2")])) == ["2"])
        #expect(try await keys(ItemQuery(tenant: "t", filters: [ItemFilter(key: "a.b", op: .eq, value: "1")])).isEmpty)

        // The text query: any word, best first, with scores; nested strings are searched; stemming finds "dog" in "dogs".
        let found = try await store.searchItems(ItemQuery(tenant: "t", namespacePrefix: ["docs"], query: "dogs"))
        #expect(found.map(\.key) == ["2", "1"])
        #expect(found.allSatisfy { ($0.score ?? 0) > 0 } && found[0].score! > found[1].score!)
        let dog = try await keys(ItemQuery(tenant: "t", query: "dog"))
        #expect(dog.first == "2" && dog.sorted() == ["1", "2", "5"])
        #expect(try await keys(ItemQuery(tenant: "t", query: "kibble")) == ["4"])
        #expect(try await keys(ItemQuery(tenant: "t", query: "cat gardening")).sorted() == ["1", "3", "4"])
        #expect(try await keys(ItemQuery(tenant: "t", filters: [tagPets], query: "cats")).sorted() == ["1", "4"])
        #expect(try await keys(ItemQuery(tenant: "t", query: "zebra")).isEmpty)
        // Query syntax is only words: quotes, operators and punctuation find nothing special and fail nothing.
        #expect(try await keys(ItemQuery(tenant: "t", query: #"" OR * NEAR( ) & | ! : ' -"#)).isEmpty)
        #expect(try await keys(ItemQuery(tenant: "t", query: #"dogs" OR "cats"#)).contains("2"))
        #expect(try await keys(ItemQuery(tenant: "u", query: "dogs")) == ["9"])
    }

    func itemNamespaces() async throws {
        let store = try makeStore()
        for namespace in [["a", "b", "c"], ["a", "b"], ["a", "x", "c"], ["b"], ["a", "b", "c", "d"]] {
            try await store.putItem(NewItem(tenant: "t", namespace: namespace, key: "k", value: "{}"))
        }
        try await store.putItem(NewItem(tenant: "u", namespace: ["secret"], key: "k", value: "{}"))
        func list(_ query: NamespaceQuery) async throws -> [[String]] { try await store.listNamespaces(query) }
        #expect(try await list(NamespaceQuery(tenant: "t")) == [["a", "b"], ["a", "b", "c"], ["a", "b", "c", "d"], ["a", "x", "c"], ["b"]])
        #expect(try await list(NamespaceQuery(tenant: "t", prefix: ["a", "b"])) == [["a", "b"], ["a", "b", "c"], ["a", "b", "c", "d"]])
        #expect(try await list(NamespaceQuery(tenant: "t", suffix: ["c"])) == [["a", "b", "c"], ["a", "x", "c"]])
        #expect(try await list(NamespaceQuery(tenant: "t", maxDepth: 2)) == [["a", "b"], ["a", "x"], ["b"]])
        #expect(try await list(NamespaceQuery(tenant: "t", prefix: ["a"], maxDepth: 1)) == [["a"]])
        #expect(try await list(NamespaceQuery(tenant: "t", limit: 2, offset: 1)) == [["a", "b", "c"], ["a", "b", "c", "d"]])
        // `*` is any one label.
        #expect(try await list(NamespaceQuery(tenant: "t", prefix: ["a", "*", "c"])) == [["a", "b", "c"], ["a", "b", "c", "d"], ["a", "x", "c"]])
        #expect(try await list(NamespaceQuery(tenant: "t", prefix: ["*"], maxDepth: 1)) == [["a"], ["b"]])
        #expect(try await list(NamespaceQuery(tenant: "t", suffix: ["*", "c"])) == [["a", "b", "c"], ["a", "x", "c"]])
        #expect(try await list(NamespaceQuery(tenant: "u")) == [["secret"]])
        #expect(try await list(NamespaceQuery(tenant: "nobody")).isEmpty)
    }
}
