import Instrumentation
import Synchronization
import OTel
import ServiceLifecycle
import Tracing

/// Traces of jobs, exported by OTLP (gRPC) to a collector: off unless an endpoint is given.
///
/// Every span of a job belongs to one trace whose id is the job's `traceID(job:)` (the one
/// its log lines carry), under a remote parent that no process records: the coordinator's
/// submit, lease and completion spans and the worker's run and stage spans meet in it
/// without the id being stored. Calls from a worker about its job also carry its span's
/// context in gRPC metadata (W3C `traceparent`), which the coordinator's spans take as
/// their parent.
public enum JobTracing {
  /// Bootstraps the process's tracer and returns the exporter to run in its service group;
  /// nil (tracing off, the no-op tracer) without an endpoint.
  public static func bootstrap(serviceName: String, endpoint: String?) throws -> (any Service)? {
    guard let endpoint else { return nil }
    var configuration = OTel.Configuration.default
    configuration.serviceName = serviceName
    configuration.logs.enabled = false
    configuration.metrics.enabled = false
    configuration.traces.otlpExporter.endpoint = endpoint
    configuration.traces.otlpExporter.protocol = .grpc
    // Spans leave within half a second: a job's trace is complete soon after the job.
    configuration.traces.batchSpanProcessor.scheduleDelay = .milliseconds(500)
    configuration.diagnosticLogLevel = .error
    let (tracer, service) = try OTel.makeTracingBackend(configuration: configuration)
    InstrumentationSystem.bootstrap(tracer)
    return service
  }

  /// The context whose spans join the trace of job `job`.
  public static func context(job: String) -> ServiceContext {
    var context = ServiceContext.topLevel
    // The virtual parent's span id: derived from the job too (16 hex digits of a second hash).
    let parent = "00-\(traceID(job: job))-\(traceID(job: job + "#root").prefix(16))-01"
    InstrumentationSystem.instrument.extract(["traceparent": parent], into: &context, using: DictionaryCarrier())
    return context
  }

  /// `context` with the parent a caller sent in `headers` (its `traceparent`), when it sent one.
  public static func context(job: String, headers: [String: String]) -> ServiceContext {
    guard headers["traceparent"] != nil else { return context(job: job) }
    var context = ServiceContext.topLevel
    InstrumentationSystem.instrument.extract(headers, into: &context, using: DictionaryCarrier())
    return context
  }

  /// The W3C headers (`traceparent`…) that carry `context` to another process.
  public static func headers(_ context: ServiceContext) -> [String: String] {
    var headers: [String: String] = [:]
    InstrumentationSystem.instrument.inject(context, into: &headers, using: DictionaryCarrier())
    return headers
  }

  /// Starts a span in `context` (ended by the caller).
  public static func span(_ name: String, context: ServiceContext, kind: SpanKind = .internal, attributes: [String: String] = [:]) -> any Span {
    let span = InstrumentationSystem.tracer.startAnySpan(name, context: context, ofKind: kind)
    for (key, value) in attributes { span.attributes[key] = value }
    return span
  }
}

/// Reads and writes W3C headers in a dictionary.
struct DictionaryCarrier: Extractor, Injector {
  func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
  func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

/// One span per stage of a running job, each ended when the next begins: what the job's
/// progress reports (reading, customers, rfm…) becomes the trace's steps.
public final class StageSpans: Sendable {
  private let parent: ServiceContext
  private let current = Mutex<(name: String, span: any Span)?>(nil)

  public init(parent: ServiceContext) { self.parent = parent }

  /// Notes the stage now running.
  public func enter(_ stage: String) {
    let parent = self.parent
    current.withLock { current in
      guard current?.name != stage else { return }
      current?.span.end()
      current = (stage, JobTracing.span(stage, context: parent))
    }
  }

  /// Ends the last stage's span.
  public func finish() {
    current.withLock { current in
      current?.span.end()
      current = nil
    }
  }
}
