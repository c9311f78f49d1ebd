import ArgumentParser
import Foundation
import LocalFiles

/// The TLS options of the programs that connect to the coordinator (the CLI, a worker).
public struct TLSClientOptions: ParsableArguments {
  @Option(name: .customLong("tls-ca"), help: "PEM CA of the coordinator's certificate: connect over TLS (env FIDELIS_TLS_CA).")
  public var ca: String = ProcessInfo.processInfo.environment["FIDELIS_TLS_CA"] ?? ""

  @Flag(help: "Connect over TLS, trusting the system's CAs (when no --tls-ca).")
  public var tls = false

  public init() {}

  /// The long names of these options and whether each takes a value.
  public static let longNames: [String: Bool] = ["--tls-ca": true, "--tls": false]

  /// The security these options ask for; with a `certificate` and its `key`, mutual TLS.
  /// Every file named is checked readable first, so a wrong path fails before connecting.
  public func security(certificate: String? = nil, key: String? = nil) throws -> ClientSecurity {
    guard (certificate == nil) == (key == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    let caPath = ca.isEmpty ? nil : ca
    do {
      try LocalFile.requireReadable([caPath, certificate, key].compactMap { $0 })
    } catch {
      throw ValidationError(error.description)
    }
    return ClientSecurity(caPath: caPath, useTLS: tls, certificatePath: certificate, keyPath: key)
  }
}
