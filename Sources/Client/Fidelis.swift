import ArgumentParser
import Foundation

/// `fidelis`: the command-line client.
public struct Fidelis: AsyncParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "fidelis",
    abstract: "Customer-retention analytics: upload purchase history, run analyses, fetch reports.",
    subcommands: [Admin.self, DatasetCommand.self, JobCommand.self, ReportCommand.self, SegmentCommand.self, ScheduleCommand.self, Analyze.self])

  public init() {}

  /// The command line with the connection options given before the subcommand moved after
  /// it, where the subcommand reads them: `fidelis --server HOST:PORT job list` works as
  /// `fidelis job list --server HOST:PORT` does, as people used to gh, kubectl or docker write it.
  public static func connectionOptionsLast(_ arguments: [String]) -> [String] {
    var leading: [String] = []
    var index = 0
    while index < arguments.count {
      let argument = arguments[index]
      let name = String(argument.split(separator: "=", maxSplits: 1).first ?? "")
      guard let takesValue = Connection.options[name] else { break }
      leading.append(argument)
      if takesValue && !argument.contains("="), index + 1 < arguments.count {
        leading.append(arguments[index + 1])
        index += 1
      }
      index += 1
    }
    guard !leading.isEmpty, index < arguments.count else { return arguments }
    return Array(arguments[index...]) + leading
  }
}
