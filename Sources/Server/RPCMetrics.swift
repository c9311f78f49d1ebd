import GRPCCore

/// Counts every RPC the coordinator handles and times it to its last response message,
/// under the names the gRPC ecosystem uses (go-grpc-prometheus: `grpc_server_handled_total`,
/// `grpc_server_handling_seconds`, with grpc_type, grpc_service, grpc_method, grpc_code).
struct RPCMetricsInterceptor: ServerInterceptor {
  let metrics: CoordinatorMetrics

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>, context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    let start = ContinuousClock.now
    let descriptor = context.descriptor
    let type = Self.typeName(descriptor.type)
    let metrics = self.metrics
    let record: @Sendable (RPCError.Code?) -> Void = { code in
      metrics.handled(
        service: descriptor.service.fullyQualifiedService, method: descriptor.method, type: type, code: Self.codeName(code), duration: ContinuousClock.now - start)
    }
    do {
      var response = try await next(request, context)
      switch response.accepted {
      case .success(var contents):
        // A streamed answer is handled when its producer ends, not when it starts.
        let producer = contents.producer
        contents.producer = { writer in
          do {
            let trailers = try await producer(writer)
            record(nil)
            return trailers
          } catch {
            record((error as? RPCError)?.code ?? .unknown)
            throw error
          }
        }
        response.accepted = .success(contents)
      case .failure(let error):
        record(error.code)
      }
      return response
    } catch {
      record((error as? RPCError)?.code ?? .unknown)
      throw error
    }
  }

  static func typeName(_ type: MethodDescriptor.RPCType?) -> String {
    guard let type else { return "unknown" }
    switch (type.isRequestStreaming, type.isResponseStreaming) {
    case (false, false): return "unary"
    case (true, false): return "client_stream"
    case (false, true): return "server_stream"
    case (true, true): return "bidi_stream"
    }
  }

  /// A status code as gRPC's other implementations spell it (Go's `codes.Code.String()`).
  static func codeName(_ code: RPCError.Code?) -> String {
    let names = [
      "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
      "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
    ]
    guard let code else { return "OK" }
    return names.indices.contains(code.rawValue) ? names[code.rawValue] : "Unknown"
  }
}
