import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Networking

/// Options every remote command takes.
struct Connection: ParsableArguments {
  /// The long names of these options, and whether each takes a value: they may also come
  /// before the subcommand (`Fidelis.connectionOptionsLast`).
  static let options: [String: Bool] = ["--server": true, "--api-key": true, "--json": false].merging(TLSClientOptions.longNames) { $1 }

  @Option(help: "Coordinator address HOST:PORT (env FIDELIS_SERVER).")
  var server: String = ProcessInfo.processInfo.environment["FIDELIS_SERVER"] ?? "127.0.0.1:7443"

  @Option(name: .customLong("api-key"), help: "Tenant API key, or the admin token for admin commands (env FIDELIS_API_KEY / FIDELIS_ADMIN_TOKEN).")
  var apiKey: String?

  @Flag(help: "Print machine-readable JSON.")
  var json = false

  @OptionGroup var tlsOptions: TLSClientOptions

  func key(admin: Bool = false) throws -> String {
    let env = ProcessInfo.processInfo.environment
    if let apiKey, !apiKey.isEmpty { return apiKey }
    if admin, let token = env["FIDELIS_ADMIN_TOKEN"], !token.isEmpty { return token }
    if let key = env["FIDELIS_API_KEY"], !key.isEmpty { return key }
    throw ValidationError(admin ? "no admin token: pass --api-key or set FIDELIS_ADMIN_TOKEN" : "no API key: pass --api-key or set FIDELIS_API_KEY")
  }

  /// Runs `body` with a connected client; gRPC errors become one clear line.
  func withClient<R: Sendable>(admin: Bool = false, _ body: (GRPCClient<HTTP2ClientTransport.Posix>, Metadata) async throws -> R) async throws -> R {
    let target: any ResolvableTarget
    let host: String
    do {
      (target, host, _) = try resolveTarget(server)
    } catch {
      throw ValidationError("--server: \(error)")
    }
    let security = try tlsOptions.security()
    if !security.isTLS && !isLoopbackHost(host) {
      stderr("warning: connecting to \(server) in plaintext; the API key crosses the network unencrypted (pass --tls-ca)")
    }
    let metadata = bearerMetadata(try key(admin: admin))
    let transport = try HTTP2ClientTransport.Posix(target: target, transportSecurity: security.transportSecurity())
    do {
      return try await withGRPCClient(transport: transport) { client in try await body(client, metadata) }
    } catch let error as RPCError {
      // The transport's own cause says why a connection failed (a certificate not trusted, say).
      var cause = error.cause
      var reasons: [String] = []
      while let current = cause {
        reasons.append(String(describing: current))
        cause = (current as? RPCError)?.cause ?? (current as? RuntimeError)?.cause
      }
      throw CLIError(message: "\(error.code): \(error.message)" + (reasons.isEmpty ? "" : " (\(reasons.joined(separator: ": ")))"))
    }
  }
}
