import Analytics
import Foundation
import GRPCCore

/// Selects the customers of one RFM segment, lifecycle group or cluster from a job's
/// per-customer CSV, read back by Analytics' own reader of that file, a slice at a time.
///
/// The cost is one pass over the bytes, whatever the name asked: the name is decoded once
/// into a `CustomerSelection`, and each row's decoded fields are compared with it. Each
/// slice hands its rows to the caller before the next is read, so that an export of a
/// large report neither holds the call's thread for long nor builds its whole answer in
/// memory.
struct SegmentExport {
  /// Longest segment name accepted (the longest real one is a cluster's, under 60).
  static let longestName = 200
  /// Bytes of the CSV read between two hand-overs of rows.
  static let sliceBytes = 256 << 10

  /// The name as asked, for the error.
  private let asked: String
  /// What it selects; nil when it names nothing Fidelis makes (then no row matches).
  private let selection: CustomerSelection?
  /// Names seen, for the error that lists the valid ones.
  private var segments = Set<RFMSegment>()
  private var groups = Set<LifecycleGroup>()
  private var clusters = [Int: ClusterName]()
  private(set) var rowsKept = 0

  /// Checks the name; INVALID_ARGUMENT when it is empty or too long.
  init(segment: String) throws {
    let name = segment.trimmingCharacters(in: .whitespaces)
    guard !name.isEmpty else { throw RPCError(code: .invalidArgument, message: "segment is required") }
    guard name.count <= Self.longestName else {
      throw RPCError(code: .invalidArgument, message: "a segment name has at most \(Self.longestName) characters (got \(name.count))")
    }
    asked = name
    selection = CustomerSelection(name)
  }

  /// Streams the header and the matching rows of `csv` to `emit`, a slice at a time; NOT_FOUND
  /// naming the valid names when no row matches (then nothing was emitted).
  mutating func run(csv: Data, emit: (Data) async throws -> Void) async throws {
    guard var reader = CustomerCSVReader(csv) else {
      throw RPCError(code: .failedPrecondition, message: "this job's customer file has no segment columns; run the analysis again")
    }
    var out = Data()
    var sinceHandOver = 0
    while let (record, row) = reader.next() {
      sinceHandOver += record.count
      if let row {
        note(row)
        if selection?.contains(row) == true {
          if rowsKept == 0 {
            out.append(reader.header)
            out.append(0x0A)
          }
          out.append(record)
          out.append(0x0A)
          rowsKept += 1
        }
      }
      if sinceHandOver >= Self.sliceBytes {
        sinceHandOver = 0
        if !out.isEmpty {
          try await emit(out)
          out = Data()
        } else {
          // Nothing to send yet: still let the other calls of this thread run.
          await Task.yield()
        }
      }
    }
    guard rowsKept > 0 else {
      let valid = segments.map(\.rawValue).sorted() + groups.map(\.rawValue).sorted() + clusters.keys.sorted().map { "cluster:\($0) (\(clusters[$0]!))" }
      throw RPCError(code: .notFound, message: "no segment '\(asked.prefix(60))' in this report; valid names: \(valid.joined(separator: ", "))")
    }
    if !out.isEmpty { try await emit(out) }
  }

  private mutating func note(_ row: CustomerRow) {
    segments.insert(row.segment)
    groups.insert(row.group)
    if clusters.count < 64 { clusters[row.cluster] = row.clusterName }
  }
}
