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
  /// Only these customers (those who moved from a group, for a moved-customers export);
  /// then no row is an answer too: the header alone.
  var onlyCustomers: Set<String>?

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

  /// Streams the header and the matching rows of the CSV whose pieces `read` returns in
  /// order (nil after the last) to `emit`, about a slice at a time; NOT_FOUND naming the
  /// valid names when no row matches (then nothing was emitted). Only one piece and the
  /// rows kept from it are held at a time.
  mutating func run(read: () async throws -> Data?, emit: (Data) async throws -> Void) async throws {
    var assembler = CustomerCSVReader.RecordAssembler()
    var reader: CustomerCSVReader?
    var out = Data()
    var sinceHandOver = 0
    func select(_ records: Data) throws {
      var records = records
      if reader == nil {
        guard let end = records.firstIndex(of: 0x0A) ?? (records.isEmpty ? nil : records.endIndex),
          let header = CustomerCSVReader(header: Data(records[records.startIndex..<end]))
        else {
          throw RPCError(code: .failedPrecondition, message: "this job's customer file has no segment columns; run the analysis again")
        }
        reader = header
        records = Data(records[min(end + 1, records.endIndex)...])
      }
      for (record, row) in reader!.rows(in: records) {
        sinceHandOver += record.count
        guard let row else { continue }
        note(row)
        guard selection?.contains(row) == true, onlyCustomers?.contains(row.customerId) ?? true else { continue }
        if rowsKept == 0 {
          out.append(reader!.header)
          out.append(0x0A)
        }
        out.append(record)
        out.append(0x0A)
        rowsKept += 1
      }
    }
    while let piece = try await read() {
      if let records = assembler.take(piece) { try select(records) }
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
    if let last = assembler.finish() { try select(last) }
    if reader == nil { try select(Data()) }
    if rowsKept == 0, onlyCustomers != nil, let reader {
      try await emit(reader.header + Data([0x0A]))
      return
    }
    guard rowsKept > 0 else {
      let valid = segments.map(\.rawValue).sorted() + groups.map(\.rawValue).sorted() + clusters.keys.sorted().map { "cluster:\($0) (\(clusters[$0]!))" }
      throw RPCError(code: .notFound, message: "no segment '\(asked.prefix(60))' in this report; valid names: \(valid.joined(separator: ", "))")
    }
    if !out.isEmpty { try await emit(out) }
  }

  /// `run` over a CSV held whole, cut in pieces of `pieceBytes`: how the tests cut a file
  /// anywhere, even inside a record.
  mutating func run(csv: Data, pieceBytes: Int = 1 << 20, emit: (Data) async throws -> Void) async throws {
    var offset = csv.startIndex
    try await run(
      read: {
        guard offset < csv.endIndex else { return nil }
        defer { offset = min(offset + pieceBytes, csv.endIndex) }
        return Data(csv[offset..<min(offset + pieceBytes, csv.endIndex)])
      }, emit: emit)
  }

  private mutating func note(_ row: CustomerRow) {
    segments.insert(row.segment)
    groups.insert(row.group)
    if clusters.count < 64 { clusters[row.cluster] = row.clusterName }
  }
}
