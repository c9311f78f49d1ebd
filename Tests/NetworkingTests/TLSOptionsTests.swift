import ArgumentParser
import Foundation
import Testing

@testable import Networking

/// The TLS options the CLI and the workers share.
@Suite("TLS options")
struct TLSOptionsTests {
  @Test("no option is plaintext; --tls-ca or --tls is TLS; a certificate with its key is mutual TLS")
  func security() throws {
    let ca = FileManager.default.temporaryDirectory.appendingPathComponent("fidelis-ca-\(UUID().uuidString).pem")
    try Data("not checked here".utf8).write(to: ca)
    defer { try? FileManager.default.removeItem(at: ca) }
    #expect(try !TLSClientOptions.parse([]).security().isTLS)
    #expect(try TLSClientOptions.parse(["--tls"]).security().isTLS)
    let withCA = try TLSClientOptions.parse(["--tls-ca", ca.path]).security(certificate: ca.path, key: ca.path)
    #expect(withCA.caPath == ca.path && withCA.certificatePath == ca.path && withCA.isTLS)
  }

  @Test("a file that cannot be read is named before any connection; a certificate needs its key")
  func refusals() throws {
    let error = #expect(throws: ValidationError.self) { try TLSClientOptions.parse(["--tls-ca", "/no/such/ca.pem"]).security() }
    #expect(error?.message == "cannot read /no/such/ca.pem: No such file or directory")
    #expect(throws: ValidationError.self) { try TLSClientOptions.parse([]).security(certificate: "/tmp/cert.pem", key: nil) }
  }
}
