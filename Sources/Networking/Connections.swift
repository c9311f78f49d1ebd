import GRPCCore
import GRPCNIOTransportHTTP2

/// How a client (the CLI or a worker) secures its connection to the coordinator.
public struct ClientSecurity: Sendable, Equatable {
  /// PEM CA that the server's certificate must chain to; implies TLS.
  public var caPath: String?
  /// TLS with the system's trust store when no CA is given.
  public var useTLS = false
  /// PEM client certificate and key, for mutual TLS (workers).
  public var certificatePath: String?
  public var keyPath: String?

  public init(caPath: String? = nil, useTLS: Bool = false, certificatePath: String? = nil, keyPath: String? = nil) {
    self.caPath = caPath
    self.useTLS = useTLS
    self.certificatePath = certificatePath
    self.keyPath = keyPath
  }

  /// True when the connection is encrypted.
  public var isTLS: Bool { useTLS || caPath != nil || certificatePath != nil }

  /// The transport security for grpc-swift-nio-transport: the server's certificate is
  /// checked against the CA (or the system store) and its name or IP address.
  public func transportSecurity() -> HTTP2ClientTransport.Posix.TransportSecurity {
    guard isTLS else { return .plaintext }
    let caPath = self.caPath
    let configure: (inout HTTP2ClientTransport.Posix.TransportSecurity.TLS) -> Void = { tls in
      if let caPath { tls.trustRoots = .certificates([.file(path: caPath, format: .pem)]) }
      tls.serverCertificateVerification = .fullVerification
    }
    if let certificatePath, let keyPath {
      return .mTLS(certificateChain: [.file(path: certificatePath, format: .pem)], privateKey: .file(path: keyPath, format: .pem), configure: configure)
    }
    return .tls(configure: configure)
  }
}

/// A malformed `HOST:PORT`.
public struct AddressError: Error, CustomStringConvertible {
  public var description: String
}

/// Parses `HOST:PORT` into a gRPC target: an IPv4 literal as such, anything else by DNS
/// (so that its name is the one checked against the server's certificate).
public func resolveTarget(_ address: String) throws -> (target: any ResolvableTarget, host: String, port: Int) {
  let parts = address.split(separator: ":")
  guard parts.count == 2, let port = Int(parts[1]), (1...65535).contains(port), !parts[0].isEmpty else {
    throw AddressError(description: "the coordinator address must be HOST:PORT (got '\(address)')")
  }
  let host = String(parts[0])
  return (target(host: host, port: port), host, port)
}

/// The gRPC target of `host`: an IPv4 literal as such, anything else by DNS.
public func target(host: String, port: Int) -> any ResolvableTarget {
  let isIPv4 = host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil }
  return isIPv4 ? .ipv4(address: host, port: port) : .dns(host: host, port: port)
}

/// True for addresses that never leave the machine.
public func isLoopbackHost(_ host: String) -> Bool {
  host == "localhost" || host == "::1" || host.hasPrefix("127.")
}
