import Foundation
import GRPCCore

/// Selects the rows of one RFM segment, lifecycle group or cluster from a job's customer
/// CSV (`customer_id,segment,lifecycle_group,cluster,cluster_name,…`), a slice at a time.
///
/// The cost is one pass over the bytes, whatever the name asked: the name is compared with
/// fields, never searched in lines. Each slice hands its rows to the caller before the next
/// is read, so that an export of a large report neither holds the call's thread for long
/// nor builds its whole answer in memory.
struct SegmentExport {
  /// Longest segment name accepted (the longest real one is a cluster's, under 60).
  static let longestName = 200
  /// Bytes of the CSV read between two hand-overs of rows.
  static let sliceBytes = 256 << 10

  /// What the caller asked for, lower-cased once.
  private let asked: String
  /// True when the name is written like an RFM segment ("At Risk"); lifecycle groups and
  /// clusters are asked in lower case ("at_risk", "cluster:2", a cluster's name).
  private let asksSegment: Bool
  private let askedGroup: String
  /// Names seen, for the error that lists the valid ones.
  private var segments = Set<String>()
  private var groups = Set<String>()
  private var clusters = [String: String]()
  private(set) var rowsKept = 0

  /// Checks the name; INVALID_ARGUMENT when it is empty or too long.
  init(segment: String) throws {
    let name = segment.trimmingCharacters(in: .whitespaces)
    guard !name.isEmpty else { throw RPCError(code: .invalidArgument, message: "segment is required") }
    guard name.count <= Self.longestName else {
      throw RPCError(code: .invalidArgument, message: "a segment name has at most \(Self.longestName) characters (got \(name.count))")
    }
    asked = name.lowercased()
    asksSegment = name.first?.isUppercase == true
    askedGroup = asked.replacingOccurrences(of: " ", with: "_")
  }

  /// Streams the header and the matching rows of `csv` to `emit`, a slice at a time; NOT_FOUND
  /// naming the valid names when no row matches (then nothing was emitted).
  mutating func run(csv: Data, emit: (Data) async throws -> Void) async throws {
    var records = CSVRecords(csv)
    guard let header = records.next() else { return }
    var out = Data()
    var headerSent = false
    var sinceHandOver = 0
    while let record = records.next() {
      sinceHandOver += record.count
      if matches(record) {
        if !headerSent {
          out.append(header)
          out.append(0x0A)
          headerSent = true
        }
        out.append(record)
        out.append(0x0A)
        rowsKept += 1
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
      let valid = segments.sorted() + groups.sorted() + clusters.keys.sorted().map { "\($0) (\(clusters[$0]!))" }
      throw RPCError(code: .notFound, message: "no segment '\(asked.prefix(60))' in this report; valid names: \(valid.joined(separator: ", "))")
    }
    if !out.isEmpty { try await emit(out) }
  }

  private mutating func matches(_ record: Data) -> Bool {
    let fields = CSVRecords.fields(record, upTo: 5)
    guard fields.count >= 5 else { return false }
    let (segment, group, cluster, clusterName) = (fields[1], fields[2], fields[3], fields[4])
    if segments.count < 64 { segments.insert(segment) }
    if groups.count < 64 { groups.insert(group) }
    if clusters.count < 64 { clusters["cluster:" + cluster] = clusterName }
    if asksSegment { return segment.lowercased() == asked }
    return group == askedGroup || "cluster:" + cluster == asked || clusterName.lowercased() == asked
  }
}

/// The records of a CSV held in memory: a line break inside quotes stays in its record.
struct CSVRecords {
  private let bytes: Data
  private var offset: Int

  init(_ bytes: Data) {
    self.bytes = bytes
    self.offset = bytes.startIndex
  }

  /// The next record, without its line break; nil at the end.
  mutating func next() -> Data? {
    guard offset < bytes.endIndex else { return nil }
    var inQuotes = false
    var i = offset
    while i < bytes.endIndex {
      let byte = bytes[i]
      if byte == UInt8(ascii: "\"") {
        inQuotes.toggle()
      } else if byte == 0x0A && !inQuotes {
        break
      }
      i += 1
    }
    let record = bytes[offset..<i]
    offset = i + 1
    return record.isEmpty ? next() : Data(record)
  }

  /// The first `count` fields of a record, unquoted.
  static func fields(_ record: Data, upTo count: Int) -> [String] {
    var fields: [String] = []
    var current: [UInt8] = []
    var inQuotes = false
    var previousWasQuote = false
    for byte in record {
      if inQuotes {
        if byte == UInt8(ascii: "\"") {
          inQuotes = false
          previousWasQuote = true
        } else {
          current.append(byte)
        }
        continue
      }
      if byte == UInt8(ascii: "\"") {
        if previousWasQuote { current.append(byte) }
        inQuotes = true
        previousWasQuote = false
      } else if byte == UInt8(ascii: ",") {
        fields.append(String(decoding: current, as: UTF8.self))
        current = []
        previousWasQuote = false
        if fields.count == count { return fields }
      } else {
        current.append(byte)
        previousWasQuote = false
      }
    }
    fields.append(String(decoding: current, as: UTF8.self))
    return fields
  }
}
