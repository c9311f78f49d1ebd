import FidelisProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Jobs
import Logging
import ServiceLifecycle
import Testing

@testable import Server
@testable import Worker

/// A coordinator and a worker in this process, on an ephemeral loopback port, with a
/// temporary store: the real gRPC stack end to end.
struct Harness {
  let port: Int
  let admin = "admin-secret"
  let workerToken = "worker-secret"

  static func run(maxDatasetBytes: Int64 = 1 << 30, _ body: (Harness, GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Void) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fidelis-test-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    var configuration = ServerConfiguration(adminToken: "admin-secret", workerToken: "worker-secret")
    configuration.port = 0
    configuration.dataDirectory = directory
    configuration.leaseMillis = 3000
    configuration.drainTimeoutMillis = 2000
    configuration.tenantDefaults.maxDatasetBytes = maxDatasetBytes
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    let coordinator = try buildCoordinator(configuration, logger: logger)
    let group = ServiceGroup(configuration: .init(services: [coordinator], logger: logger))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
      tasks.addTask { try await group.run() }
      guard let port = try await coordinator.listeningAddress.ipv4?.port else { throw RPCError(code: .internalError, message: "no port") }
      var workerConfiguration = WorkerConfiguration(token: "worker-secret")
      workerConfiguration.serverPort = port
      workerConfiguration.pollMillis = 500
      workerConfiguration.workerId = "test-worker"
      let worker = WorkerProcess(configuration: workerConfiguration, logger: logger)
      let workerGroup = ServiceGroup(configuration: .init(services: [worker], logger: logger))
      tasks.addTask { try await workerGroup.run() }
      let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
      do {
        try await withGRPCClient(transport: transport) { client in try await body(Harness(port: port), client) }
      } catch {
        await workerGroup.triggerGracefulShutdown()
        await group.triggerGracefulShutdown()
        throw error
      }
      await workerGroup.triggerGracefulShutdown()
      await group.triggerGracefulShutdown()
      try await tasks.waitForAll()
    }
  }

  func auth(_ key: String) -> Metadata { ["authorization": "Bearer \(key)"] }

  func createTenant(_ client: GRPCClient<HTTP2ClientTransport.Posix>, _ name: String) async throws -> String {
    try await Fidelis_V1_AdminService.Client(wrapping: client).createTenant(.with { $0.name = name }, metadata: auth(admin)).apiKey
  }

  func upload(_ client: GRPCClient<HTTP2ClientTransport.Posix>, key: String, _ text: String, kind: String = "transactions") async throws -> Fidelis_V1_Dataset {
    try await Fidelis_V1_DatasetService.Client(wrapping: client).uploadDataset(metadata: auth(key)) { writer in
      try await writer.write(.with { $0.header = .with { $0.name = "data.csv"; $0.kind = kind } })
      let bytes = Data(text.utf8)
      var offset = 0
      while offset < bytes.count {
        try await writer.write(.with { $0.chunk = bytes.subdata(in: offset..<min(bytes.count, offset + 4096)) })
        offset += 4096
      }
    }
  }

  func wait(_ client: GRPCClient<HTTP2ClientTransport.Posix>, key: String, job: String) async throws -> [Fidelis_V1_Job] {
    try await Fidelis_V1_JobService.Client(wrapping: client).watchJob(.with { $0.jobID = job }, metadata: auth(key)) { response in
      var seen: [Fidelis_V1_Job] = []
      for try await update in response.messages { seen.append(update) }
      return seen
    }
  }

  func report(_ client: GRPCClient<HTTP2ClientTransport.Posix>, key: String, job: String, format: String) async throws -> Data {
    try await Fidelis_V1_ReportService.Client(wrapping: client).getReport(.with { $0.jobID = job; $0.format = format }, metadata: auth(key)) { response in
      var data = Data()
      for try await chunk in response.messages { data.append(chunk.data) }
      return data
    }
  }
}

func sampleCSV(customers: Int = 300) -> String {
  var csv = "customer_id,order_id,order_date,amount,category,promo\n"
  var order = 0
  for c in 0..<customers {
    for k in 0..<(1 + c % 5) {
      order += 1
      let month = 1 + (c + k * 3) % 12
      csv += "C\(c),O\(order),2024-\(String(format: "%02d", month))-\(String(format: "%02d", 1 + (c * 7 + k) % 28)),\(10 + (c * 13 + k * 7) % 90).50,cat\(c % 3),\(k % 4 == 0 ? 1 : 0)\n"
    }
  }
  return csv
}

@Suite("Service end to end", .serialized)
struct ServiceTests {
  @Test("upload, profile job, watch to the end, fetch the report")
  func profileJob() async throws {
    try await Harness.run { h, client in
      let key = try await h.createTenant(client, "Acme")
      let dataset = try await h.upload(client, key: key, sampleCSV())
      #expect(dataset.sizeBytes == Int64(sampleCSV().utf8.count))
      let job = try await Fidelis_V1_JobService.Client(wrapping: client).submitJob(
        .with { $0.datasetID = dataset.id; $0.kind = "profile"; $0.idempotencyKey = "p1" }, metadata: h.auth(key))
      let updates = try await h.wait(client, key: key, job: job.id)
      #expect(updates.last?.state == .succeeded)
      #expect(updates.last?.attempts.first?.worker == "test-worker")
      let json = try await h.report(client, key: key, job: job.id, format: "json")
      let profile = try JSONSerialization.jsonObject(with: json) as? [String: Any]
      #expect(profile?["customers"] as? Int == 300)
      // A retried submit with the same key is the same job.
      let again = try await Fidelis_V1_JobService.Client(wrapping: client).submitJob(
        .with { $0.datasetID = dataset.id; $0.kind = "profile"; $0.idempotencyKey = "p1" }, metadata: h.auth(key))
      #expect(again.id == job.id)
    }
  }

  @Test("a watch of a dataset's reports gets each new one as its job succeeds; the newest and the dataset's list agree; another tenant sees none")
  func watchReports() async throws {
    try await Harness.run { h, client in
      let key = try await h.createTenant(client, "Watcher")
      let other = try await h.createTenant(client, "Other")
      let dataset = try await h.upload(client, key: key, sampleCSV())
      let unrelated = try await h.upload(client, key: key, sampleCSV(customers: 50))
      let jobs = Fidelis_V1_JobService.Client(wrapping: client)
      let reports = Fidelis_V1_ReportService.Client(wrapping: client)
      // A report that exists before the watch starts is not news.
      let before = try await jobs.submitJob(.with { $0.datasetID = dataset.id; $0.kind = "profile" }, metadata: h.auth(key))
      _ = try await h.wait(client, key: key, job: before.id)
      let received = try await withThrowingTaskGroup(of: [Fidelis_V1_ReportSummary].self) { tasks in
        tasks.addTask {
          try await reports.watchReports(.with { $0.datasetID = dataset.id; $0.kind = "analysis" }, metadata: h.auth(key)) { response in
            var got: [Fidelis_V1_ReportSummary] = []
            for try await summary in response.messages {
              got.append(summary)
              if got.count == 2 { break }
            }
            return got
          }
        }
        // Time for the watch to take its first look, then an analysis of another dataset
        // (not sent), a profile (another kind, not sent) and two analyses.
        try await Task.sleep(for: .milliseconds(300))
        for (id, kind) in [(unrelated.id, "analysis"), (dataset.id, "profile"), (dataset.id, "analysis"), (dataset.id, "analysis")] {
          let job = try await jobs.submitJob(.with { $0.datasetID = id; $0.kind = kind }, metadata: h.auth(key))
          _ = try await h.wait(client, key: key, job: job.id)
        }
        return try await tasks.next()!
      }
      #expect(received.count == 2)
      #expect(received.allSatisfy { $0.datasetID == dataset.id && $0.kind == "analysis" && $0.formats.contains("html") })
      // Listed for the dataset, newest first; the newest analysis is the last one watched.
      let listed = try await reports.listReports(.with { $0.datasetID = dataset.id; $0.kind = "analysis" }, metadata: h.auth(key)).reports
      #expect(listed.map(\.jobID) == received.map(\.jobID).reversed())
      let all = try await reports.listReports(.with { $0.datasetID = dataset.id }, metadata: h.auth(key)).reports
      #expect(all.count == 4)
      // Resuming after the first: the second comes at once.
      let resumed = try await reports.watchReports(
        .with { $0.datasetID = dataset.id; $0.kind = "analysis"; $0.afterJobID = received[0].jobID }, metadata: h.auth(key)
      ) { response -> String? in
        for try await summary in response.messages { return summary.jobID }
        return nil
      }
      #expect(resumed == received[1].jobID)
      // Another tenant: the dataset does not exist for it.
      await #expect(throws: RPCError.self) {
        try await reports.watchReports(.with { $0.datasetID = dataset.id }, metadata: h.auth(other)) { response in
          for try await _ in response.messages {}
        }
      }
      do {
        _ = try await reports.listReports(.with { $0.datasetID = dataset.id }, metadata: h.auth(other))
        Issue.record("another tenant listed the dataset's reports")
      } catch let error as RPCError {
        #expect(error.code == .notFound)
      }
    }
  }

  @Test("analysis job: every report format, segment export, unknown segment lists valid names")
  func analysisJob() async throws {
    try await Harness.run { h, client in
      let key = try await h.createTenant(client, "Shop")
      let dataset = try await h.upload(client, key: key, sampleCSV())
      let job = try await Fidelis_V1_JobService.Client(wrapping: client).submitJob(
        .with { $0.datasetID = dataset.id; $0.kind = "analysis"; $0.options = .with { $0.language = "fr"; $0.clusters = 3 } }, metadata: h.auth(key))
      let updates = try await h.wait(client, key: key, job: job.id)
      #expect(updates.last?.state == .succeeded, "\(updates.last?.error ?? "")")
      #expect(Set(updates.last?.reportFormats ?? []) == ["csv", "html", "json", "md"])
      let md = String(decoding: try await h.report(client, key: key, job: job.id, format: "md"), as: UTF8.self)
      #expect(md.contains("Synthèse exécutive"))
      let html = String(decoding: try await h.report(client, key: key, job: job.id, format: "html"), as: UTF8.self)
      #expect(html.contains("<svg"))
      let export = try await Fidelis_V1_ReportService.Client(wrapping: client).exportSegment(.with { $0.jobID = job.id; $0.segment = "lost" }, metadata: h.auth(key)) { response in
        var data = Data()
        for try await chunk in response.messages { data.append(chunk.data) }
        return String(decoding: data, as: UTF8.self)
      }
      #expect(export.hasPrefix("customer_id,segment,lifecycle_group"))
      #expect(export.split(separator: "\n").dropFirst().allSatisfy { $0.contains(",lost,") })
      let error = await #expect(throws: RPCError.self) {
        try await Fidelis_V1_ReportService.Client(wrapping: client).exportSegment(.with { $0.jobID = job.id; $0.segment = "nobody" }, metadata: h.auth(key)) { response in
          for try await _ in response.messages {}
        }
      }
      #expect(error?.code == .notFound)
      #expect(error?.message.contains("Champions") == true)
    }
  }

  @Test("a per-customer file the worker deflated into several pieces downloads whole, the same bytes as a local analysis, and a segment export reads across the pieces")
  func largeReport() async throws {
    try await Harness.run { h, client in
      let key = try await h.createTenant(client, "Big")
      let customers = 16_000
      let options = Fidelis_V1_JobOptions.with { $0.clusters = 3; $0.clvModel = "bgnbd" }
      let dataset = try await h.upload(client, key: key, sampleCSV(customers: customers))
      let job = try await Fidelis_V1_JobService.Client(wrapping: client).submitJob(
        .with { $0.datasetID = dataset.id; $0.kind = "analysis"; $0.options = options }, metadata: h.auth(key))
      let updates = try await h.wait(client, key: key, job: job.id)
      #expect(updates.last?.state == .succeeded, "\(updates.last?.error ?? "")")
      let csv = try await h.report(client, key: key, job: job.id, format: "csv")
      #expect(csv.count > 1_048_576, "\(csv.count) bytes: more than one stored piece")
      // The worker sent it as deflated pieces (PackedArtifact); what comes back is what the
      // analysis wrote.
      let file = FileManager.default.temporaryDirectory.appendingPathComponent("large-report-\(UUID().uuidString).csv")
      try Data(sampleCSV(customers: customers).utf8).write(to: file)
      defer { try? FileManager.default.removeItem(at: file) }
      let spec = try JobSpec(kind: "analysis", options: options, defaultLanguage: "en")
      let local = try await JobRunner.run(spec, inputs: JobInputs(transactions: FileSource(path: file.path)), formats: [.csv], progress: { _, _ in })
      #expect(local.first?.data == csv)
      let rows = String(decoding: csv, as: UTF8.self).split(separator: "\n")
      #expect(rows.count == customers + 1)
      var exported = 0
      for group in ["loyal", "potential", "new", "at_risk", "lost"] {
        let text: String
        do {
          text = try await Fidelis_V1_ReportService.Client(wrapping: client).exportSegment(.with { $0.jobID = job.id; $0.segment = group }, metadata: h.auth(key)) { response in
            var data = Data()
            for try await chunk in response.messages { data.append(chunk.data) }
            return String(decoding: data, as: UTF8.self)
          }
        } catch let error as RPCError where error.code == .notFound {
          continue  // nobody in that group
        }
        let lines = text.split(separator: "\n").dropFirst()
        #expect(lines.allSatisfy { $0.contains(",\(group),") })
        exported += lines.count
      }
      #expect(exported == customers)
    }
  }

  @Test("authentication and tenant isolation")
  func isolation() async throws {
    try await Harness.run { h, client in
      let a = try await h.createTenant(client, "A")
      let b = try await h.createTenant(client, "B")
      let dataset = try await h.upload(client, key: a, sampleCSV(customers: 10))
      let jobs = Fidelis_V1_JobService.Client(wrapping: client)
      let job = try await jobs.submitJob(.with { $0.datasetID = dataset.id; $0.kind = "profile" }, metadata: h.auth(a))
      let otherTenant = await #expect(throws: RPCError.self) { try await jobs.getJob(.with { $0.jobID = job.id }, metadata: h.auth(b)) }
      let missing = await #expect(throws: RPCError.self) { try await jobs.getJob(.with { $0.jobID = "job_doesnotexist" }, metadata: h.auth(b)) }
      #expect(otherTenant?.code == .notFound)
      #expect(missing?.code == .notFound)
      #expect(otherTenant?.message.replacingOccurrences(of: job.id, with: "ID") == missing?.message.replacingOccurrences(of: "job_doesnotexist", with: "ID"))
      let noKey = await #expect(throws: RPCError.self) { try await jobs.listJobs(.init()) }
      #expect(noKey?.code == .unauthenticated)
      let wrongKey = await #expect(throws: RPCError.self) { try await jobs.listJobs(.init(), metadata: h.auth("fk_wrong")) }
      #expect(wrongKey?.code == .unauthenticated)
      let notAdmin = await #expect(throws: RPCError.self) { try await Fidelis_V1_AdminService.Client(wrapping: client).listTenants(.init(), metadata: h.auth(a)) }
      #expect(notAdmin?.code == .permissionDenied)
      let tenantAsWorker = await #expect(throws: RPCError.self) {
        try await Fidelis_V1_WorkerService.Client(wrapping: client).leaseJob(.with { $0.workerID = "x" }, metadata: h.auth(a))
      }
      #expect(tenantAsWorker?.code == .unauthenticated)
      #expect(try await Fidelis_V1_DatasetService.Client(wrapping: client).listDatasets(.init(), metadata: h.auth(b)).datasets.isEmpty)
    }
  }

  @Test("bad input gets a precise status and changes nothing")
  func badInput() async throws {
    try await Harness.run(maxDatasetBytes: 10_000) { h, client in
      let key = try await h.createTenant(client, "T")
      let jobs = Fidelis_V1_JobService.Client(wrapping: client)
      let tooBig = await #expect(throws: RPCError.self) { try await h.upload(client, key: key, sampleCSV()) }
      #expect(tooBig?.code == .resourceExhausted)
      #expect(try await Fidelis_V1_DatasetService.Client(wrapping: client).listDatasets(.init(), metadata: h.auth(key)).datasets.isEmpty)
      let dataset = try await h.upload(client, key: key, sampleCSV(customers: 10))
      let cases: [(Fidelis_V1_SubmitJobRequest, RPCError.Code, String)] = [
        (.with { $0.datasetID = dataset.id; $0.kind = "magic" }, .invalidArgument, "unknown job kind"),
        (.with { $0.datasetID = dataset.id; $0.options = .with { $0.clusters = 40 } }, .invalidArgument, "clusters"),
        (.with { $0.datasetID = dataset.id; $0.options = .with { $0.asOf = "yesterday" } }, .invalidArgument, "as_of"),
        (.with { $0.datasetID = dataset.id; $0.options = .with { $0.language = "de" } }, .invalidArgument, "language"),
        (.with { $0.datasetID = "ds_unknown" }, .notFound, "no dataset"),
      ]
      for (request, code, text) in cases {
        let error = await #expect(throws: RPCError.self) { try await jobs.submitJob(request, metadata: h.auth(key)) }
        #expect(error?.code == code)
        #expect(error?.message.contains(text) == true, "\(error?.message ?? "")")
      }
      #expect(try await jobs.listJobs(.init(), metadata: h.auth(key)).jobs.isEmpty)
      // A worker's lease request must name the worker and at most 16 kinds.
      let workers = Fidelis_V1_WorkerService.Client(wrapping: client)
      for (request, text) in [
        (Fidelis_V1_LeaseJobRequest.with { $0.kinds = ["profile"] }, "worker_id"),
        (.with { $0.workerID = "w"; $0.kinds = Array(repeating: "profile", count: 17) }, "at most 16"),
      ] {
        let error = await #expect(throws: RPCError.self) { try await workers.leaseJob(request, metadata: h.auth(h.workerToken)) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains(text) == true, "\(error?.message ?? "")")
      }
      // A file that cannot be read fails its job with the line and the reason, without retries.
      let broken = try await h.upload(client, key: key, "name,value\nx,1\n")
      let job = try await jobs.submitJob(.with { $0.datasetID = broken.id; $0.kind = "profile" }, metadata: h.auth(key))
      let final = try await h.wait(client, key: key, job: job.id).last
      #expect(final?.state == .failed)
      #expect(final?.error.contains("line 1") == true)
      #expect(final?.attempt == 1)
    }
  }

  @Test("health: SERVING while taking work")
  func health() async throws {
    try await Harness.run { _, client in
      let status = try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init())
      #expect(status.status == .serving)
    }
  }
}
