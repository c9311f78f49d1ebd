import Analytics
import Foundation
import LocalFiles

/// Measures the analytics engine stage by stage, and exposes K-Means from given centres, for
/// `scripts/bench-analytics` and the scikit-learn comparison. Depends on Analytics only, so a
/// release build of it takes seconds, not the minutes that gRPC costs.
///
///     fidelis-bench analytics FILE            one JSON line: seconds per stage, peak memory
///     fidelis-bench kmeans POINTS CENTRES     Lloyd from CENTRES; JSON centres, labels, inertia
@main
struct BenchCommand {
  static func main() async {
    let arguments = Array(CommandLine.arguments.dropFirst())
    do {
      switch arguments.first {
      case "analytics" where arguments.count == 2: try await analytics(path: arguments[1])
      case "kmeans" where arguments.count == 3: try kmeans(pointsPath: arguments[1], centresPath: arguments[2])
      default:
        FileHandle.standardError.write(Data("usage: fidelis-bench analytics FILE | kmeans POINTS.csv CENTRES.csv\n".utf8))
        exit(2)
      }
    } catch {
      FileHandle.standardError.write(Data("fidelis-bench: \(error)\n".utf8))
      exit(1)
    }
  }

  /// Reads FILE in 1 MiB chunks through the streaming ingestor, then runs the analysis,
  /// timing each stage from the analyzer's progress callbacks.
  static func analytics(path: String) async throws {
    let clock = ContinuousClock()
    let start = clock.now
    let startProcessor = processorSeconds()
    let file = LocalFile(path: path)
    var ingestor = TransactionIngestor(expectedBytes: file.byteCount)
    try file.readBuffers { try ingestor.consume($0) }
    let data = try ingestor.finish()
    let ingestPeak = peakResidentMegabytes()
    var marks: [(String, ContinuousClock.Instant, Double)] = [("ingest", start, startProcessor)]
    let (result, _) = try Analyzer.run(data, progress: { stage, _ in marks.append((stage, clock.now, processorSeconds())) })
    let end = clock.now
    marks.append(("end", end, processorSeconds()))
    // Progress names the stage that starts; the analyzer's stages map onto the benchmark's.
    let names = ["ingest": "ingest", "customers": "rfm", "rfm": "rfm", "clusters": "kmeans", "model check": "model_check", "lifetime value": "clv", "kpis": "kpis_and_insights", "done": "kpis_and_insights"]
    var stages: [String: Double] = [:]
    // CPU seconds of every thread per stage: against the wall time, how much of the two
    // cores each stage keeps busy.
    var processor: [String: Double] = [:]
    for (mark, next) in zip(marks, marks.dropFirst()) {
      let name = names[mark.0] ?? mark.0
      stages[name, default: 0] += seconds(next.1 - mark.1)
      processor[name, default: 0] += next.2 - mark.2
    }
    let report: [String: Any] = [
      "stages": stages, "processor_seconds": processor, "total": seconds(end - start), "peak_rss_mb": peakResidentMegabytes(), "ingest_peak_rss_mb": ingestPeak,
      "customers": result.customers, "orders": result.orders, "rows": data.quality.rowsRead, "k": result.clusters.k,
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys]), as: UTF8.self))
  }

  /// Lloyd iterations until no label changes, from the given centres: the same run as
  /// scikit-learn's `KMeans(init=centres, n_init=1, tol=0, algorithm="lloyd")`.
  static func kmeans(pointsPath: String, centresPath: String) throws {
    let points = try readMatrix(pointsPath)
    let centres = try readMatrix(centresPath)
    guard points.dimensions == centres.dimensions else { throw BenchError("points and centres differ in dimensions") }
    let fit = KMeans.lloyd(points, initialCenters: centres.values)
    let report: [String: Any] = ["centers": fit.centers, "labels": fit.labels.map(Int.init), "inertia": fit.inertia, "iterations": fit.iterations]
    print(String(decoding: try JSONSerialization.data(withJSONObject: report), as: UTF8.self))
  }

  /// A headerless CSV of doubles, one point per line.
  static func readMatrix(_ path: String) throws -> PointMatrix {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    var values: [Double] = []
    var dimensions = 0
    for (number, line) in text.split(whereSeparator: \.isNewline).enumerated() {
      let fields = line.split(separator: ",")
      if dimensions == 0 { dimensions = fields.count }
      guard fields.count == dimensions else { throw BenchError("\(path) line \(number + 1): \(fields.count) fields, expected \(dimensions)") }
      for field in fields {
        guard let value = Double(field.trimmingCharacters(in: .whitespaces)) else { throw BenchError("\(path) line \(number + 1): '\(field)' is not a number") }
        values.append(value)
      }
    }
    guard dimensions > 0 else { throw BenchError("\(path) is empty") }
    return PointMatrix(values: values, dimensions: dimensions)
  }

  static func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
  }
}

/// A message for the person running the benchmark.
struct BenchError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// User and system CPU seconds of every thread of this process so far.
func processorSeconds() -> Double {
  var usage = rusage()
  #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)
  #else
    getrusage(RUSAGE_SELF, &usage)
  #endif
  func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
  return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Peak resident memory of this process so far, in MB.
func peakResidentMegabytes() -> Double {
  var usage = rusage()
  #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)  // ru_maxrss in KiB
  #else
    getrusage(RUSAGE_SELF, &usage)
  #endif
  return Double(usage.ru_maxrss) / 1024
}
