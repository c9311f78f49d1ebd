import FidelisProto
import GRPCCore
import Store

/// Who is calling: a tenant by its API key, a worker or the administrator by their token.
extension Coordinator {
  /// The bearer token of a call, or UNAUTHENTICATED.
  static func bearer(_ metadata: Metadata) throws -> String {
    guard let value = metadata[stringValues: "authorization"].first(where: { _ in true }) else {
      throw RPCError(code: .unauthenticated, message: "missing 'authorization: Bearer <key>' metadata")
    }
    let parts = value.split(separator: " ", maxSplits: 1)
    guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
      throw RPCError(code: .unauthenticated, message: "the authorization metadata must be 'Bearer <key>'")
    }
    return String(parts[1])
  }

  /// The tenant whose API key the call carries.
  func tenant(_ metadata: Metadata) throws -> TenantRecord {
    let key = try Self.bearer(metadata)
    guard let tenant = try mapStoreErrors({ try store.tenant(forKey: key) }) else {
      throw RPCError(code: .unauthenticated, message: "unknown API key")
    }
    return tenant
  }

  /// Checks the worker token.
  func requireWorker(_ metadata: Metadata) throws {
    guard constantTimeEquals(FidelisStore.hashKey(try Self.bearer(metadata)), workerTokenHash) else {
      throw RPCError(code: .unauthenticated, message: "worker calls need the worker token")
    }
  }

  /// Checks the admin token.
  func requireAdmin(_ metadata: Metadata) throws {
    guard constantTimeEquals(FidelisStore.hashKey(try Self.bearer(metadata)), adminTokenHash) else {
      throw RPCError(code: .permissionDenied, message: "administration needs the admin token")
    }
  }
}

/// Compares two strings in time independent of where they differ.
func constantTimeEquals(_ a: String, _ b: String) -> Bool {
  let x = Array(a.utf8), y = Array(b.utf8)
  guard x.count == y.count else { return false }
  var difference: UInt8 = 0
  for i in x.indices { difference |= x[i] ^ y[i] }
  return difference == 0
}
