import ArgumentParser
import FidelisProto
import Foundation

struct ScheduleCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "schedule", abstract: "Analyses the coordinator runs on a dataset at a fixed interval.",
    subcommands: [Create.self, List.self, Runs.self, Pause.self, Resume.self, Delete.self])

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Schedule a job on a dataset; prints the schedule id.",
      discussion: """
        Each run reads the dataset's latest version and compares itself with the previous analysis. A run \\
        is skipped, and the skip recorded, while the previous run is queued or running and when the dataset \\
        has not changed since the last run. Runs missed while the coordinator was down are made once.
        """)
    @OptionGroup var connection: Connection
    @Argument(help: "The dataset's name.") var dataset: String
    @Option(help: "The interval: 30d, 7d, 1d, 6h, 15m.") var every: String
    @Option(help: "The UTC time of day of the runs, HH:MM (default: the first run now).") var at: String?
    @Option(help: "analysis (default) or profile.") var kind = "analysis"
    @Option(help: "Per-customer dataset (kind customers).") var customers: String?
    @OptionGroup var flags: AnalysisFlags

    func run() async throws {
      var options = try flags.options()
      if let customers { options.customersDatasetID = customers }
      let request = Fidelis_V1_CreateScheduleRequest.with {
        $0.dataset = dataset
        $0.every = every
        $0.at = at ?? ""
        $0.kind = kind
        $0.options = options
      }
      let schedule = try await connection.withClient { client, metadata in
        try await Fidelis_V1_ScheduleService.Client(wrapping: client).createSchedule(request, metadata: metadata)
      }
      if connection.json { try printJSON(schedule) } else {
        stderr("next run \(isoTime(schedule.nextRunAtUnixMs))")
        print(schedule.id)
      }
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the schedules: id, dataset, interval, state, next run, last job.")
    @OptionGroup var connection: Connection

    func run() async throws {
      let response = try await connection.withClient { client, metadata in
        try await Fidelis_V1_ScheduleService.Client(wrapping: client).listSchedules(.init(), metadata: metadata)
      }
      if connection.json { try printJSON(response) } else {
        for s in response.schedules {
          let every = s.everySeconds % 86_400 == 0 ? "\(s.everySeconds / 86_400)d" : s.everySeconds % 3_600 == 0 ? "\(s.everySeconds / 3_600)h" : s.everySeconds % 60 == 0 ? "\(s.everySeconds / 60)m" : "\(s.everySeconds)s"
          print("\(s.id)\t\(s.dataset)\t\(s.kind)\tevery \(every)\(s.at.isEmpty ? "" : " at \(s.at)")\t\(s.state)\tnext \(isoTime(s.nextRunAtUnixMs))\t\(s.lastJobID)")
        }
      }
    }
  }

  struct Runs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "What became of a schedule's runs, newest first: the job, or why none.")
    @OptionGroup var connection: Connection
    @Argument var id: String

    func run() async throws {
      let response = try await connection.withClient { client, metadata in
        try await Fidelis_V1_ScheduleService.Client(wrapping: client).listScheduleRuns(.with { $0.scheduleID = id }, metadata: metadata)
      }
      if connection.json { try printJSON(response) } else {
        for r in response.runs { print("\(isoTime(r.dueAtUnixMs))\t\(r.outcome)\t\(r.outcome == "submitted" ? r.jobID : r.reason)") }
      }
    }
  }

  struct Pause: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Pause a schedule.")
    @OptionGroup var connection: Connection
    @Argument var id: String

    func run() async throws {
      let schedule = try await connection.withClient { client, metadata in
        try await Fidelis_V1_ScheduleService.Client(wrapping: client).pauseSchedule(.with { $0.scheduleID = id }, metadata: metadata)
      }
      stderr("\(schedule.id) \(schedule.state)")
    }
  }

  struct Resume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Resume a schedule: its next run is the first slot from now on.")
    @OptionGroup var connection: Connection
    @Argument var id: String

    func run() async throws {
      let schedule = try await connection.withClient { client, metadata in
        try await Fidelis_V1_ScheduleService.Client(wrapping: client).resumeSchedule(.with { $0.scheduleID = id }, metadata: metadata)
      }
      stderr("\(schedule.id) \(schedule.state), next run \(isoTime(schedule.nextRunAtUnixMs))")
    }
  }

  struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a schedule (the jobs it submitted stay).")
    @OptionGroup var connection: Connection
    @Argument var id: String

    func run() async throws {
      _ = try await connection.withClient { client, metadata in
        try await Fidelis_V1_ScheduleService.Client(wrapping: client).deleteSchedule(.with { $0.scheduleID = id }, metadata: metadata)
      }
      stderr("deleted \(id)")
    }
  }
}
