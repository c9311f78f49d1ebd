import Foundation
import GRPCCore
import Logging
import Store

/// Store errors as gRPC statuses: refusals keep their message, anything else is logged
/// here and reaches the caller as a generic INTERNAL (or RESOURCE_EXHAUSTED for a full disk).
extension Coordinator {
  /// Runs a store operation, turning its refusals into gRPC statuses with their message.
  func mapStoreErrors<T>(_ body: () throws -> T) throws -> T {
    do {
      return try body()
    } catch {
      throw rpcError(error)
    }
  }

  /// `mapStoreErrors` for the store's asynchronous writes.
  func mapStoreErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
      return try await body()
    } catch {
      throw rpcError(error)
    }
  }

  /// The status a store error answers with. A full disk is noted (health turns NOT_SERVING
  /// until space is back); any other failure of SQLite is logged for the operator and
  /// answered without SQLite's words, which name tables and files.
  func rpcError(_ error: any Error) -> RPCError {
    switch error {
    case let error as StoreError:
      switch error {
      case .notFound(let m): return RPCError(code: .notFound, message: m)
      case .failedPrecondition(let m): return RPCError(code: .failedPrecondition, message: m)
      case .resourceExhausted(let m): return RPCError(code: .resourceExhausted, message: m)
      case .leaseLost(let m), .aborted(let m): return RPCError(code: .aborted, message: m)
      case .invalidArgument(let m): return RPCError(code: .invalidArgument, message: m)
      case .dataLoss(let m):
        logger.error("damaged report file", metadata: ["error": "\(m)"])
        return RPCError(code: .dataLoss, message: m)
      }
    case let error as RPCError:
      return error
    default:
      if FidelisStore.isDiskFull(error) {
        if disk.noteFull() { logger.error("the data directory's disk is full: writes are refused until space is freed") }
        return Self.diskFull
      }
      logger.error("store failure: \(error)")
      return RPCError(code: .internalError, message: "the coordinator's store failed; nothing was changed, and the operator's log has the details")
    }
  }
}
