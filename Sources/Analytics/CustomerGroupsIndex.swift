import Foundation

/// A report's customers as the next report of its series reads them: each identifier with
/// its RFM segment, lifecycle group, cluster and whether it has a single order. It holds
/// what the comparison takes from the per-customer CSV in a few bytes per customer beside
/// the identifier, so that a later report reads 15 MB, not the CSV's 80 MB of a million
/// customers, and decodes no text: reading the CSV back was a tenth of such a job's time.
///
/// Layout: the 8 bytes `FIDGRP1\n`; the number of customers (8 bytes, little-endian); then
/// per customer the identifier's length (LEB128), its bytes, and one byte each for the
/// segment (`RFMSegment.index`), the lifecycle group (`LifecycleGroup.index`), the cluster
/// (its number, 255 for any above) and flags (bit 0: one order).
public enum CustomerGroupsIndex {
  static let magic: [UInt8] = Array("FIDGRP1\n".utf8)
  static let headerBytes = 16
  /// Bytes of a record besides its identifier and the identifier's length.
  static let fieldBytes = 4

  /// The index of an analysis' customers.
  public static func data(of customers: CustomerResults) -> Data {
    let table = customers.table
    return data(count: table.count, id: { table.ids[$0] }) { i in
      PreviousCustomers.Entry(
        segment: UInt8(customers.segment[i].index), group: UInt8(customers.group[i].index), cluster: UInt8(clamping: customers.cluster[i]),
        oneOrder: table.frequency[i] == 1)
    }
  }

  /// The index of `count` customers, the i-th with identifier `id(i)` and entry `entry(i)`.
  static func data(count: Int, id: (Int) -> String, entry: (Int) -> PreviousCustomers.Entry) -> Data {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(headerBytes + count * (12 + fieldBytes))
    bytes.append(contentsOf: magic)
    withUnsafeBytes(of: UInt64(count).littleEndian) { bytes.append(contentsOf: $0) }
    for i in 0..<count {
      var id = id(i)
      id.withUTF8 { id in
        var length = id.count
        while length >= 0x80 {
          bytes.append(UInt8(truncatingIfNeeded: length) | 0x80)
          length >>= 7
        }
        bytes.append(UInt8(length))
        bytes.append(contentsOf: id)
      }
      let entry = entry(i)
      bytes.append(entry.segment)
      bytes.append(entry.group)
      bytes.append(entry.cluster)
      bytes.append(entry.oneOrder ? 1 : 0)
    }
    return Data(bytes)
  }

  /// Why an index cannot be read; the comparison then reads the per-customer CSV.
  public struct FormatError: Error, CustomStringConvertible, Sendable {
    public var description: String
  }

  /// Reads an index a piece at a time into the customers a comparison looks up.
  public struct Reader {
    private var pending: [UInt8] = []
    private var customers = PreviousCustomers()
    private var expected: Int?
    private var read = 0
    /// Records are decoded a batch at a time, enough for the identifiers to be hashed on
    /// every core; pieces as they arrive over the network hold a few thousand.
    static let batchBytes = 1 << 20

    public init() {}

    /// Reads the next piece of the index.
    public mutating func consume(_ piece: UnsafeBufferPointer<UInt8>) throws {
      pending.append(contentsOf: piece)
      if expected == nil {
        guard pending.count >= headerBytes else { return }
        guard pending.prefix(magic.count).elementsEqual(magic) else { throw FormatError(description: "not a customer groups index") }
        let count = pending[magic.count..<headerBytes].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard count <= UInt64(Int32.max) else { throw FormatError(description: "an index of \(count) customers") }
        expected = Int(count)
        // Room made for what the index says, up to a bound: a damaged count does not
        // claim gigabytes before the records disprove it.
        customers.reserve(min(Int(count), 1 << 22))
        pending.removeFirst(headerBytes)
      }
      if pending.count >= Self.batchBytes { try decode() }
    }

    /// Reads the next piece of the index.
    public mutating func consume(_ piece: Data) throws {
      try piece.withUnsafeBytes { try consume($0.bindMemory(to: UInt8.self)) }
    }

    /// Ends the index and returns its customers; throws when it was cut short or holds
    /// more or fewer customers than it says.
    public mutating func finish() throws -> PreviousCustomers {
      guard let expected else { throw FormatError(description: "the index ends within its header") }
      try decode()
      guard pending.isEmpty else { throw FormatError(description: "the index ends within a customer's record") }
      guard read == expected else { throw FormatError(description: "the index holds \(read) customers where it says \(expected)") }
      return customers
    }

    /// Decodes the complete records pending, and keeps the rest for the next piece.
    private mutating func decode() throws {
      var records: [(start: Int, length: Int, entry: PreviousCustomers.Entry)] = []
      let used = try pending.withUnsafeBufferPointer { bytes in
        var at = 0
        while at < bytes.count {
          var length = 0
          var shift = 0
          var cursor = at
          while cursor < bytes.count, bytes[cursor] & 0x80 != 0 {
            length |= Int(bytes[cursor] & 0x7F) << shift
            shift += 7
            cursor += 1
            guard shift < 28 else { throw FormatError(description: "an identifier's length is out of range") }
          }
          guard cursor < bytes.count else { break }
          length |= Int(bytes[cursor]) << shift
          cursor += 1
          guard length > 0 else { throw FormatError(description: "an empty identifier") }
          guard cursor + length + fieldBytes <= bytes.count else { break }
          let fields = cursor + length
          let (segment, group, cluster, flags) = (bytes[fields], bytes[fields + 1], bytes[fields + 2], bytes[fields + 3])
          guard Int(segment) < RFMSegment.allCases.count, Int(group) < LifecycleGroup.allCases.count, flags <= 1 else {
            throw FormatError(description: "customer \(read + records.count + 1) has a segment, group or flag out of range")
          }
          records.append((cursor, length, PreviousCustomers.Entry(segment: segment, group: group, cluster: cluster, oneOrder: flags == 1)))
          at = fields + fieldBytes
        }
        return at
      }
      pending.withUnsafeBufferPointer { bytes in
        let base = bytes.baseAddress!
        customers.add(records.count) { records[$0].entry } identifier: { r, body in
          body(UnsafeBufferPointer(start: base + records[r].start, count: records[r].length))
        }
      }
      read += records.count
      guard read <= expected ?? 0 else { throw FormatError(description: "the index holds more customers than the \(expected ?? 0) it says") }
      pending.removeFirst(used)
    }
  }
}
