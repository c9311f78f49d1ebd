import Testing

@testable import Client

@Suite("Command line")
struct CommandLineTests {
  @Test("connection options before the subcommand are read as if after it", arguments: [
    (["--server", "h:1", "job", "list"], ["job", "list", "--server", "h:1"]),
    (["--server=h:1", "--json", "--api-key", "k", "report", "get", "j"], ["report", "get", "j", "--server=h:1", "--json", "--api-key", "k"]),
    (["job", "list", "--server", "h:1"], ["job", "list", "--server", "h:1"]),
    (["--help"], ["--help"]),
    (["--server", "h:1"], ["--server", "h:1"]),
  ])
  func leadingOptions(given: [String], read: [String]) {
    #expect(Fidelis.connectionOptionsLast(given) == read)
  }
}
