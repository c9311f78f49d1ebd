import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import LocalFiles

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

/// Splits `HOST:PORT` (an IPv6 address in brackets, `[::1]:7443`): the one parser of every
/// address the three programs take. The port must be 1…65535, or 0 when `allowsAnyPort`
/// (a listener that picks a free port); `option` names the flag in the error.
public func parseHostPort(_ text: String, option: String, allowsAnyPort: Bool = false) throws -> (host: String, port: Int) {
  let host: Substring
  let port: Substring
  if text.hasPrefix("["), let close = text.firstIndex(of: "]"), text[close...].hasPrefix("]:") {
    host = text[text.index(after: text.startIndex)..<close]
    port = text[text.index(close, offsetBy: 2)...]
  } else if let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") {
    host = text[..<colon]
    port = text[text.index(after: colon)...]
  } else {
    throw AddressError(description: "\(option) must be HOST:PORT, with an IPv6 address in brackets (got '\(text.prefix(100))')")
  }
  guard let number = Int(port), number >= (allowsAnyPort ? 0 : 1), number <= 65535 else {
    throw AddressError(description: "\(option) needs a port from \(allowsAnyPort ? 0 : 1) to 65535 (got '\(port.prefix(20))')")
  }
  return (String(host), number)
}

/// Parses the coordinator's `HOST:PORT` into a gRPC target: an IP literal as such, anything
/// else by DNS (so that its name is the one checked against the server's certificate).
public func resolveTarget(_ address: String, option: String = "--server") throws -> (target: any ResolvableTarget, host: String, port: Int) {
  let (host, port) = try parseHostPort(address, option: option)
  guard !host.isEmpty else { throw AddressError(description: "\(option) needs a host (got '\(address.prefix(100))')") }
  return (target(host: host, port: port), host, port)
}

/// The gRPC target of `host`: an IP literal as such, anything else by DNS.
public func target(host: String, port: Int) -> any ResolvableTarget {
  if host.contains(":") { return .ipv6(address: host, port: port) }
  return isIPv4Literal(host) ? .ipv4(address: host, port: port) : .dns(host: host, port: port)
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
    let (given, port) = try parseHostPort(text, option: option, allowsAnyPort: true)
    self.port = port
    let host = given.isEmpty ? "0.0.0.0" : given
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

/// The call metadata that carries a key or token: `authorization: Bearer KEY`, as every
/// Fidelis call expects it (the coordinator reads it back in `Coordinator.bearer`).
public func bearerMetadata(_ key: String) -> Metadata { ["authorization": "Bearer \(key)"] }

/// `data` cut into consecutive pieces of at most `size` bytes (one piece when empty): the
/// payloads of streamed messages, each under the message size limit.
public func messageChunks(_ data: Data, size: Int) -> [Data] {
  guard data.count > size else { return [data] }
  return stride(from: 0, to: data.count, by: size).map { data.subdata(in: data.startIndex + $0..<data.startIndex + min(data.count, $0 + size)) }
}

/// Size of the pieces in which files and reports travel: well under the 4 MiB message limit.
/// An upload sends a file's chunks as they are read, so one message is one chunk.
public let streamChunkBytes = LocalFile.chunkBytes
