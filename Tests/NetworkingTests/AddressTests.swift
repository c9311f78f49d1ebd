import Foundation
import GRPCCore
import Testing

@testable import Networking

@Suite("Addresses")
struct AddressTests {
  @Test("HOST:PORT, one parser for all three programs", arguments: [
    ("127.0.0.1:7443", "127.0.0.1", 7443), ("coordinator.example:1", "coordinator.example", 1), ("[::1]:7443", "::1", 7443), ("localhost:65535", "localhost", 65535),
  ])
  func valid(text: String, host: String, port: Int) throws {
    let parsed = try parseHostPort(text, option: "--server")
    #expect(parsed.host == host && parsed.port == port)
  }

  @Test("malformed addresses are refused with the flag's name", arguments: ["7443", "h:0", "h:65536", "h:x", "::1:7443", "h:7443:1", ""])
  func invalid(text: String) {
    let error = #expect(throws: AddressError.self) { try parseHostPort(text, option: "--server") }
    #expect(error?.description.contains("--server") == true)
  }

  @Test("a listener may take port 0 and names resolve to a numeric address")
  func listen() throws {
    let local = try ListenAddress("localhost:0")
    #expect(local.host == "127.0.0.1" && local.port == 0 && !local.isIPv6)
    #expect(try ListenAddress(":7443").host == "0.0.0.0")
    #expect(try ListenAddress("[::1]:0").isIPv6)
    #expect(throws: AddressError.self) { try ListenAddress("no-such-host.invalid:1") }
  }
}

@Suite("Message chunks")
struct MessageChunkTests {
  @Test("pieces are at most the size, in order, and join back to the data", arguments: [0, 1, 5, 6, 7, 1000])
  func chunks(count: Int) {
    let data = Data((0..<count).map { UInt8(truncatingIfNeeded: $0) })
    let pieces = messageChunks(data, size: 6)
    #expect(pieces.allSatisfy { $0.count <= 6 })
    #expect(pieces.count == max(1, (count + 5) / 6))
    #expect(pieces.reduce(Data(), +) == data)
    #expect(bearerMetadata("k")[stringValues: "authorization"].first(where: { _ in true }) == "Bearer k")
  }
}
