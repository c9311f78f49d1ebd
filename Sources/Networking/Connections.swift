import Foundation
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

/// An address to listen on, from `HOST:PORT`: the host may be an IPv4 literal, `[IPv6]`,
/// `localhost` or any name this machine resolves (to its first IPv4 address). Port 0 picks
/// a free port.
public struct ListenAddress: Sendable, Equatable {
  /// The numeric address to bind.
  public var host: String
  public var port: Int
  /// True for an IPv6 address.
  public var isIPv6: Bool

  /// Parses and resolves `text`; `option` names the flag in the error.
  public init(_ text: String, option: String = "--listen") throws {
    var hostPart: Substring
    let portPart: Substring
    if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
      hostPart = text[text.index(after: text.startIndex)..<close]
      guard text[close...].hasPrefix("]:") else { throw AddressError(description: "\(option) must be HOST:PORT (got '\(text.prefix(100))')") }
      portPart = text[text.index(close, offsetBy: 2)...]
    } else {
      guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
        throw AddressError(description: "\(option) must be HOST:PORT, with an IPv6 address in brackets (got '\(text.prefix(100))')")
      }
      hostPart = text[..<colon]
      portPart = text[text.index(after: colon)...]
    }
    guard let port = Int(portPart), (0...65535).contains(port) else {
      throw AddressError(description: "\(option) needs a port from 0 to 65535 (got '\(portPart.prefix(20))')")
    }
    if hostPart.isEmpty { hostPart = "0.0.0.0" }
    self.port = port
    let host = String(hostPart)
    if host.contains(":") {
      self.host = host
      self.isIPv6 = true
    } else if isIPv4Literal(host) {
      self.host = host
      self.isIPv6 = false
    } else if host == "localhost" {
      self.host = "127.0.0.1"
      self.isIPv6 = false
    } else {
      guard let resolved = resolveIPv4(host) else { throw AddressError(description: "\(option): cannot resolve '\(host.prefix(100))' to an IPv4 address") }
      self.host = resolved
      self.isIPv6 = false
    }
  }
}

func isIPv4Literal(_ host: String) -> Bool {
  host.split(separator: ".", omittingEmptySubsequences: false).count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil }
}

/// The first IPv4 address of a host name, through the system's resolver.
func resolveIPv4(_ name: String) -> String? {
  var hints = addrinfo()
  hints.ai_family = AF_INET
  hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
  var result: UnsafeMutablePointer<addrinfo>?
  guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result else { return nil }
  defer { freeaddrinfo(result) }
  guard let address = first.pointee.ai_addr else { return nil }
  return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
    var inAddr = pointer.pointee.sin_addr
    var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
    guard inet_ntop(AF_INET, &inAddr, &buffer, socklen_t(INET_ADDRSTRLEN)) != nil else { return nil }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
}
