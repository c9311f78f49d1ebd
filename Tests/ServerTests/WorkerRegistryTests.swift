import Testing

@testable import Server

@Suite("Worker registry")
struct WorkerRegistryTests {
  @Test("slots are one worker by name; the latest call and the most slots said are kept")
  func presence() {
    #expect(WorkerRegistry.name("eu-1/3") == "eu-1")
    #expect(WorkerRegistry.name("eu-1") == "eu-1")
    #expect(WorkerRegistry.name("a/b") == "a/b")
    let registry = WorkerRegistry()
    registry.seen(workerId: "eu-1/0", host: "h1", certificate: "", slots: 4, at: 100)
    registry.seen(workerId: "eu-1/1", host: "h1", certificate: "", slots: 4, at: 90)
    registry.seen(workerId: "old", host: "h2", certificate: "CN=old", slots: 0, at: 50)
    let seen = registry.snapshot
    #expect(seen.count == 2)
    #expect(seen["eu-1"] == .init(host: "h1", certificate: "", slots: 4, lastSeen: 100))
    #expect(seen["old"]?.certificate == "CN=old")
  }
}
