import FidelisProto
import Foundation
import GRPCCore
import Jobs
import Logging
import Store

/// ScheduleService: analyses submitted by the coordinator at a fixed interval.
struct ScheduleService: Sendable {
  let coordinator: Coordinator

  /// Shortest and longest interval.
  static let shortest: Int64 = 2
  static let longest: Int64 = 366 * 86_400

  /// Seconds of an interval written "30d", "6h", "15m" or "10s"; INVALID_ARGUMENT otherwise.
  static func seconds(_ every: String) throws -> Int64 {
    let text = every.trimmingCharacters(in: .whitespaces).lowercased()
    let units: [Character: Int64] = ["d": 86_400, "h": 3_600, "m": 60, "s": 1]
    guard let unit = text.last, let factor = units[unit], let count = Int64(text.dropLast()), count > 0, count <= longest else {
      throw RPCError(code: .invalidArgument, message: "every must be a number and d, h, m or s, such as 30d, 7d, 6h or 15m (got '\(every.prefix(40))')")
    }
    let seconds = count * factor
    guard seconds >= shortest, seconds <= longest else {
      throw RPCError(code: .invalidArgument, message: "every must be between \(shortest)s and 366d (got '\(every.prefix(40))')")
    }
    return seconds
  }

  /// Minutes after midnight of "HH:MM"; INVALID_ARGUMENT otherwise.
  static func minutes(_ at: String) throws -> Int {
    let parts = at.split(separator: ":")
    guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m), parts[1].count == 2 else {
      throw RPCError(code: .invalidArgument, message: "at must be a UTC time of day HH:MM (got '\(at.prefix(40))')")
    }
    return h * 60 + m
  }
}

extension ScheduleService: Fidelis_V1_ScheduleService.ServiceProtocol {
  func createSchedule(request: ServerRequest<Fidelis_V1_CreateScheduleRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Schedule> {
    let tenant = try coordinator.tenant(request.metadata)
    let m = request.message
    let dataset = try Coordinator.checkName(m.dataset, "dataset")
    let every = try Self.seconds(m.every)
    let at = m.at.isEmpty ? nil : try Self.minutes(m.at)
    // The options are checked, and the language and currency settled, as at submit.
    let spec: JobSpec
    do {
      spec = try JobSpec(kind: m.kind.isEmpty ? "analysis" : m.kind, options: m.options, defaultLanguage: tenant.defaultLanguage, defaultCurrency: tenant.defaultCurrency)
    } catch {
      throw RPCError(code: .invalidArgument, message: error.message)
    }
    guard spec.compareTo == nil else {
      throw RPCError(code: .invalidArgument, message: "a schedule's runs compare themselves with the previous analysis of the series: compare_to is not taken")
    }
    var options = m.options
    options.language = spec.language.rawValue
    options.currency = spec.analysis.currency
    if let customers = spec.customersDatasetId {
      options.customersDatasetID = try coordinator.mapStoreErrors { try coordinator.store.dataset(tenantId: tenant.id, reference: customers, kind: "customers").id }
    }
    let store = coordinator.store
    let name = try coordinator.mapStoreErrors { try store.dataset(tenantId: tenant.id, reference: dataset, kind: "transactions").name }
    let record = try coordinator.mapStoreErrors {
      try store.createSchedule(
        tenantId: tenant.id, datasetName: name, kind: spec.kind.rawValue, options: try options.serializedBytes(), everySeconds: every, atMinute: at)
    }
    coordinator.logger.info("schedule created", metadata: ["tenant": "\(tenant.id)", "schedule": "\(record.id)", "dataset": "\(name)", "every": "\(every)s"])
    return ServerResponse(message: Self.message(record))
  }

  func listSchedules(request: ServerRequest<Fidelis_V1_ListSchedulesRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_ListSchedulesResponse> {
    let tenant = try coordinator.tenant(request.metadata)
    let records = try coordinator.mapStoreErrors { try coordinator.store.schedules(tenantId: tenant.id) }
    return ServerResponse(message: .with { $0.schedules = records.map(Self.message) })
  }

  func pauseSchedule(request: ServerRequest<Fidelis_V1_ScheduleRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Schedule> {
    try setState(request, .paused)
  }

  func resumeSchedule(request: ServerRequest<Fidelis_V1_ScheduleRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Schedule> {
    try setState(request, .active)
  }

  private func setState(_ request: ServerRequest<Fidelis_V1_ScheduleRequest>, _ state: ScheduleState) throws -> ServerResponse<Fidelis_V1_Schedule> {
    let tenant = try coordinator.tenant(request.metadata)
    try Coordinator.checkID(request.message.scheduleID, "schedule")
    let record = try coordinator.mapStoreErrors { try coordinator.store.setScheduleState(tenantId: tenant.id, id: request.message.scheduleID, state) }
    return ServerResponse(message: Self.message(record))
  }

  func deleteSchedule(request: ServerRequest<Fidelis_V1_ScheduleRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_DeleteScheduleResponse> {
    let tenant = try coordinator.tenant(request.metadata)
    try Coordinator.checkID(request.message.scheduleID, "schedule")
    try coordinator.mapStoreErrors { try coordinator.store.deleteSchedule(tenantId: tenant.id, id: request.message.scheduleID) }
    return ServerResponse(message: .init())
  }

  func listScheduleRuns(request: ServerRequest<Fidelis_V1_ScheduleRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_ListScheduleRunsResponse> {
    let tenant = try coordinator.tenant(request.metadata)
    try Coordinator.checkID(request.message.scheduleID, "schedule")
    let runs = try coordinator.mapStoreErrors { try coordinator.store.scheduleRuns(tenantId: tenant.id, id: request.message.scheduleID) }
    return ServerResponse(message: .with {
      $0.runs = runs.map { run in
        .with {
          $0.dueAtUnixMs = run.dueAt
          $0.ranAtUnixMs = run.ranAt
          $0.outcome = run.outcome
          $0.reason = run.reason ?? ""
          $0.jobID = run.jobId ?? ""
          $0.datasetVersionID = run.versionId ?? ""
        }
      }
    })
  }

  static func message(_ record: ScheduleRecord) -> Fidelis_V1_Schedule {
    .with {
      $0.id = record.id
      $0.dataset = record.datasetName
      $0.kind = record.kind
      $0.options = (try? Fidelis_V1_JobOptions(serializedBytes: record.options)) ?? .init()
      $0.everySeconds = record.everySeconds
      $0.at = record.atMinute.map { String(format: "%02d:%02d", $0 / 60, $0 % 60) } ?? ""
      $0.state = record.state.rawValue
      $0.nextRunAtUnixMs = record.nextRunAt
      $0.lastJobID = record.lastJobId ?? ""
      $0.createdAtUnixMs = record.createdAt
    }
  }
}

extension Coordinator {
  /// Makes the schedules' due runs: each in one transaction of the store (`runSchedule`).
  /// An analysis run is compared with the latest succeeded analysis of its series, found
  /// just before. Returns the runs made.
  func runDueSchedules(now: Int64 = FidelisStore.now()) throws -> [ScheduleRunRecord] {
    var made: [ScheduleRunRecord] = []
    for schedule in try store.dueSchedules(now: now) {
      var options = (try? Fidelis_V1_JobOptions(serializedBytes: schedule.options)) ?? .init()
      if schedule.kind == "analysis" {
        options.compareTo = try store.latestSucceededAnalysis(tenantId: schedule.tenantId, datasetName: schedule.datasetName)?.id ?? ""
      }
      guard let run = try store.runSchedule(schedule, options: try options.serializedBytes(), now: now) else { continue }
      made.append(run)
      if run.outcome == "submitted" {
        noteJobsQueued()
        metrics.submitted(kind: schedule.kind)
      }
      logger.info(
        "schedule run", metadata: ["tenant": "\(schedule.tenantId)", "schedule": "\(schedule.id)", "outcome": "\(run.outcome)", "job": "\(run.jobId ?? "")", "reason": "\(run.reason ?? "")"])
    }
    return made
  }
}
