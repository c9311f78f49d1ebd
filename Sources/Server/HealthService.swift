import FidelisProto
import GRPCCore

/// The standard grpc.health.v1 service: SERVING while the coordinator takes work,
/// NOT_SERVING while it drains, and, while its disk is full, for the whole server ("") and
/// the services that write (reports can still be read). The empty service name and the
/// Fidelis services are known.
struct HealthService: Sendable {
  let coordinator: Coordinator
  static let knownServices: Set<String> = [
    "", "fidelis.v1.AdminService", "fidelis.v1.DatasetService", "fidelis.v1.JobService", "fidelis.v1.ReportService", "fidelis.v1.WorkerService",
  ]

  /// Services that cannot work without writing to the store.
  static let writingServices: Set<String> = ["", "fidelis.v1.AdminService", "fidelis.v1.DatasetService", "fidelis.v1.JobService", "fidelis.v1.WorkerService"]

  func status(_ service: String) -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
    if coordinator.isDraining { return .notServing }
    if coordinator.disk.isFull && Self.writingServices.contains(service) { return .notServing }
    return .serving
  }
}

extension HealthService: Grpc_Health_V1_Health.ServiceProtocol {
  func check(request: ServerRequest<Grpc_Health_V1_HealthCheckRequest>, context: ServerContext) async throws -> ServerResponse<Grpc_Health_V1_HealthCheckResponse> {
    guard Self.knownServices.contains(request.message.service) else {
      throw RPCError(code: .notFound, message: "unknown service '\(request.message.service)'")
    }
    let status = status(request.message.service)
    return ServerResponse(message: .with { $0.status = status })
  }

  func watch(request: ServerRequest<Grpc_Health_V1_HealthCheckRequest>, context: ServerContext) async throws -> StreamingServerResponse<Grpc_Health_V1_HealthCheckResponse> {
    let service = request.message.service
    let known = Self.knownServices.contains(service)
    let health = self
    return StreamingServerResponse { writer in
      var last: Grpc_Health_V1_HealthCheckResponse.ServingStatus?
      while !context.cancellation.isCancelled {
        let now = known ? health.status(service) : .serviceUnknown
        if now != last {
          try await writer.write(.with { $0.status = now })
          last = now
        }
        try? await Task.sleep(for: .milliseconds(100))
      }
      return [:]
    }
  }
}
