import Foundation
import Testing

@testable import Analytics

/// An analysis of the sample's lines that `keep` keeps, with its JSON and per-customer files.
private func analysed(_ keep: (String) -> Bool) throws -> (result: AnalysisResult, customers: CustomerResults, json: Data, csv: Data) {
  let lines = sampleCSV(customers: 250).split(separator: "\n").map(String.init)
  let csv = ([lines[0]] + lines.dropFirst().filter(keep)).joined(separator: "\n") + "\n"
  var options = AnalysisOptions()
  options.seed = 5
  let (result, customers) = try Analyzer.run(try TransactionIngestor.ingest(Array(csv.utf8)), options: options)
  return (result, customers, try result.jsonData(), customers.csvData())
}

/// `file` handed to `consume` in pieces of `piece` bytes.
private func inPieces(_ file: Data, piece: Int, _ consume: (Data) throws -> Void) rethrows {
  for offset in stride(from: 0, to: file.count, by: piece) { try consume(file.subdata(in: offset..<min(file.count, offset + piece))) }
}

/// The customers of a per-customer file, read in pieces of `piece` bytes.
private func previousCustomers(_ csv: Data, piece: Int) throws -> PreviousCustomers {
  var reader = PreviousCustomers.Reader()
  try inPieces(csv, piece: piece) { try reader.consume($0) }
  return try reader.finish()
}

@Suite("Comparison")
struct ComparisonTests {
  @Test("the migration matrices add up to both reports' groups; customers gone and new are counted apart", arguments: [97, 1 << 20])
  func migration(piece: Int) throws {
    // The earlier report: purchases up to mid-2024, and customer C5 whose lines the later
    // version no longer has.
    let before = try analysed { $0.split(separator: ",")[2] < "2024-07-01" }
    let after = try analysed { !$0.hasPrefix("C5,") }
    let previous = try previousCustomers(before.csv, piece: piece)
    #expect(previous.count == before.result.customers)
    let c = try Comparison.make(
      job: "job_b", result: after.result, customers: after.customers, previousJob: "job_a", previous: ReportFigures(json: before.json), previousCustomers: previous)
    #expect(c.previousAsOf == before.result.asOf && c.days == parseISODate(after.result.asOf)! - parseISODate(before.result.asOf)!)
    let wasThere = before.customers.table.ids.contains("C5")
    for (m, earlier, later) in [
      (c.segmentMigration.lifecycle, before.result.lifecycle.groups.map { ($0.name.rawValue, $0.customers) }, after.result.lifecycle.groups.map { ($0.name.rawValue, $0.customers) }),
      (c.segmentMigration.rfm, before.result.rfm.segments.map { ($0.name.rawValue, $0.customers) }, after.result.rfm.segments.map { ($0.name.rawValue, $0.customers) }),
    ] {
      let earlierSize = Dictionary(uniqueKeysWithValues: earlier)
      let laterSize = Dictionary(uniqueKeysWithValues: later)
      for (i, row) in m.rows.dropLast().enumerated() { #expect(m.counts[i].reduce(0, +) + m.absent[i] == earlierSize[row] ?? 0, "\(row)") }
      for (j, column) in m.columns.enumerated() { #expect(m.counts.map { $0[j] }.reduce(0, +) == laterSize[column] ?? 0, "\(column)") }
      #expect(m.absent.reduce(0, +) == (wasThere ? 1 : 0))
      #expect(m.counts.last!.reduce(0, +) == Set(after.customers.table.ids).subtracting(before.customers.table.ids).count)
    }
    let customers = c.kpiChanges.first { $0.id == .customers }!
    #expect(customers.before == Double(before.result.customers) && customers.change == Double(after.result.customers - before.result.customers))
    // Each action of the earlier report, its targeted customers found again.
    #expect(c.actionFollowUp.map(\.action) == before.result.actions.map(\.id.rawValue))
    for (follow, action) in zip(c.actionFollowUp, before.result.actions) {
      #expect(follow.targeted == action.targetCustomers)
      #expect(follow.orderedAgain <= follow.targeted)
    }
    #expect(c.trend.map(\.job) == ["job_a", "job_b"])
  }

  @Test("a report of a series carries the series: the next one extends its trend")
  func trend() throws {
    let first = try analysed { $0.split(separator: ",")[2] < "2024-07-01" }
    let second = try analysed { $0.split(separator: ",")[2] < "2025-01-01" }
    let third = try analysed { _ in true }
    var secondResult = second.result
    secondResult.comparison = try Comparison.make(
      job: "j2", result: second.result, customers: second.customers, previousJob: "j1", previous: ReportFigures(json: first.json),
      previousCustomers: previousCustomers(first.csv, piece: 1 << 20))
    let c = try Comparison.make(
      job: "j3", result: third.result, customers: third.customers, previousJob: "j2", previous: ReportFigures(json: secondResult.jsonData()),
      previousCustomers: previousCustomers(second.csv, piece: 1 << 20))
    #expect(c.trend.map(\.job) == ["j1", "j2", "j3"])
    #expect(c.trend.map(\.asOf) == [first.result.asOf, second.result.asOf, third.result.asOf])
    #expect(c.trend[0].values[.revenue] == first.result.revenue)
    #expect(c.trend[2].values[.engagedShare] == third.result.kpis.engagedShare)
    // The JSON keeps the figures' names as written.
    let json = String(decoding: try secondResult.jsonData(), as: UTF8.self)
    #expect(json.contains("\"engaged_share\"") && json.contains("\"previous_job\" : \"j1\""))
  }

  @Test("a previous file of 70,000 customers, read in pieces, finds each customer again on every core, and none it did not have")
  func manyCustomers() throws {
    var csv = "customer_id,segment,lifecycle_group,cluster,cluster_name,frequency\n"
    let segments = ["Champions", "At Risk", "Hibernating"]
    let groups = ["loyal", "at_risk", "lost"]
    for i in 0..<70_000 { csv += "K\(i),\(segments[i % 3]),\(groups[i % 3]),\(i % 4),occasional,\(1 + i % 2)\n" }
    // A customer named twice: the later line counts, as in a dictionary.
    csv += "K7,Champions,loyal,0,occasional,1\n"
    let previous = try previousCustomers(Data(csv.utf8), piece: 1 << 16)
    #expect(previous.count == 70_000)
    var rng = SplitMix64(seed: 11)
    let ids = (0..<90_000).map { _ in "K\(rng.next() % 100_000)" }
    let positions = previous.positions(of: CustomerIDs(ids))
    for (id, position) in zip(ids, positions) {
      let number = Int(id.dropFirst())!
      #expect(position == (number < 70_000 ? Int32(number) : -1), "\(id)")
    }
    // K7 as its second line has it (one order, loyal); K8 and K9 as written.
    #expect(previous.entries[7].oneOrder && previous.entries[7].group == UInt8(LifecycleGroup.loyal.index))
    #expect(previous.entries[8].oneOrder && !previous.entries[9].oneOrder)
  }

  @Test("a previous per-customer file without the needed columns is refused")
  func badPreviousFile() throws {
    var reader = PreviousCustomers.Reader()
    #expect(throws: CSVFormatError.self) {
      try reader.consume(Data("customer_id,segment\nA,Lost\n".utf8))
      _ = try reader.finish()
    }
  }
}

@Suite("Reading a per-customer file back")
struct PerCustomerFileReadingTests {
  /// The records of `bytes` found a byte at a time: split at line breaks outside quotes,
  /// every quote flipping quoting, empty records left out.
  static func referenceRecords(_ bytes: [UInt8], isEnd: Bool) -> (records: [Range<Int>], used: Int) {
    var (records, start, inQuotes) = ([Range<Int>](), 0, false)
    for (i, byte) in bytes.enumerated() {
      if byte == UInt8(ascii: "\"") {
        inQuotes.toggle()
      } else if byte == 0x0A && !inQuotes {
        if i > start { records.append(start..<i) }
        start = i + 1
      }
    }
    guard isEnd else { return (records, start) }
    if bytes.count > start { records.append(start..<bytes.count) }
    return (records, bytes.count)
  }

  @Test("records found eight bytes at a time are those found a byte at a time, quotes and line breaks anywhere", arguments: [false, true])
  func records(isEnd: Bool) {
    var random = SplitMix64(seed: 29)
    let alphabet: [UInt8] = Array("\"\n,ab\r".utf8) + Array(repeating: UInt8(ascii: "x"), count: 10)
    for length in 0..<300 {
      for _ in 0..<20 {
        let bytes = (0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
        let found = bytes.withUnsafeBufferPointer { CustomerCSVReader.records(in: $0, isEnd: isEnd) }
        let expected = Self.referenceRecords(bytes, isEnd: isEnd)
        #expect(found.records == expected.records && found.used == expected.used, "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
      }
    }
  }

  @Test("names and numbers read from their bytes are what the strings' initialisers read, valid or not")
  func fieldsFromBytes() throws {
    let header = "customer_id,segment,lifecycle_group,cluster,cluster_name,frequency"
    let reader = try #require(CustomerCSVReader(Data((header + "\n").utf8)))
    let segments = RFMSegment.allCases.map(\.rawValue) + ["champions", "Champions ", "", "At  Risk", "At Risk,"]
    let groups = LifecycleGroup.allCases.map(\.rawValue) + ["Lost", "at-risk", ""]
    let numbers = ["0", "7", "+3", "-2", "-0", "", "+", "-", "3x", " 4", "007", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809"]
    var random = SplitMix64(seed: 5)
    func any(_ values: [String]) -> String { values[Int(random.next() % UInt64(values.count))] }
    for i in 0..<3000 {
      let (segment, group, cluster, frequency) = (any(segments), any(groups), any(numbers), any(numbers))
      let name = any(["occasional", "high value (2)", "nothing"])
      let line = "K\(i),\(segment),\(group),\(cluster),\(name),\(frequency)"
      let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
      var expected: CustomerRow?
      if fields.count == 6, let s = RFMSegment(rawValue: fields[1]), let g = LifecycleGroup(rawValue: fields[2]), let c = Int(fields[3]),
        let n = ClusterName(fields[4]), let f = Int(fields[5])
      {
        expected = CustomerRow(customerId: fields[0], frequency: f, segment: s, group: g, cluster: c, clusterName: n)
      }
      let row = Array(line.utf8).withUnsafeBufferPointer { reader.row($0) }
      #expect(row == expected, "\(line)")
      // The same fields quoted, as csvField may write them: read the same once taken out.
      let quoted = fields.map { "\"\($0.replacingOccurrences(of: "\"", with: "\"\""))\"" }.joined(separator: ",")
      if fields.count == 6 { #expect(Array(quoted.utf8).withUnsafeBufferPointer { reader.row($0) } == expected, "\(quoted)") }
    }
  }

  @Test("a file of more than one batch, read in pieces, gives the rows a record-by-record reading gives, quoted identifiers included", arguments: [1_000, 65_536, 1 << 20])
  func batches(piece: Int) throws {
    let header = CustomerColumn.allCases.map(\.rawValue).joined(separator: ",")
    var lines = [header]
    var random = SplitMix64(seed: 7)
    for i in 0..<70_000 {
      // Identifiers with separators, quotes and line breaks in them, as csvField writes them.
      let id: String
      switch random.next() % 50 {
      case 0: id = "\"C\(i), \"\"north\"\"\""
      case 1: id = "\"C\(i)\nsecond line\""
      default: id = "C\(i)"
      }
      let segment = RFMSegment.allCases[i % RFMSegment.allCases.count].rawValue
      let group = LifecycleGroup.allCases[i % LifecycleGroup.allCases.count].rawValue
      lines.append("\(id),\(segment),\(group),\(i % 4),occasional,\(i % 400),\(1 + i % 9),123.45,41.15,3,2,4,0.8123,1.2345,150.25")
    }
    let csv = Data((lines.joined(separator: "\n") + "\n").utf8)
    #expect(csv.count > CustomerCSVStream.batchBytes)
    var stream = CustomerCSVStream()
    var rows: [CustomerRow] = []
    var offset = 0
    while offset < csv.count {
      rows += try stream.rows(in: csv.subdata(in: offset..<min(csv.count, offset + piece)))
      offset += piece
    }
    rows += try stream.finish()
    var reader = try #require(CustomerCSVReader(csv))
    var expected: [CustomerRow] = []
    while let (_, row) = reader.next() { expected.append(try #require(row)) }
    #expect(rows.count == 70_000)
    #expect(rows == expected)
    #expect(rows.contains { $0.customerId.contains(", \"north\"") })
    #expect(rows.contains { $0.customerId.contains("\nsecond line") })
  }
}

/// The customers of a customer groups index, read in pieces of `piece` bytes.
private func indexedCustomers(_ index: Data, piece: Int) throws -> PreviousCustomers {
  var reader = CustomerGroupsIndex.Reader()
  try inPieces(index, piece: piece) { try reader.consume($0) }
  return try reader.finish()
}

/// The same customer with the same entry in both, found at the same place.
private func sameCustomers(_ a: PreviousCustomers, _ b: PreviousCustomers, ids: [String]) {
  #expect(a.count == b.count)
  let listed = CustomerIDs(ids)
  for (id, (p, q)) in zip(ids, zip(a.positions(of: listed), b.positions(of: listed))) {
    guard p >= 0, q >= 0 else {
      #expect(p == q, "\(id)")
      continue
    }
    let (x, y) = (a.entries[Int(p)], b.entries[Int(q)])
    #expect(x.segment == y.segment && x.group == y.group && x.cluster == y.cluster && x.oneOrder == y.oneOrder, "\(id)")
  }
}

@Suite("Customer groups index")
struct CustomerGroupsIndexTests {
  @Test("an analysis' index gives the customers and the comparison its per-customer file gives", arguments: [1, 97, 1 << 20])
  func sameAsTheFile(piece: Int) throws {
    let before = try analysed { $0.split(separator: ",")[2] < "2024-07-01" }
    let after = try analysed { !$0.hasPrefix("C5,") }
    let fromFile = try previousCustomers(before.csv, piece: 1 << 20)
    let fromIndex = try indexedCustomers(CustomerGroupsIndex.data(of: before.customers), piece: piece)
    sameCustomers(fromFile, fromIndex, ids: Array(after.customers.table.ids) + Array(before.customers.table.ids) + ["nobody"])
    let compare = { (customers: PreviousCustomers) in
      try Comparison.make(
        job: "job_b", result: after.result, customers: after.customers, previousJob: "job_a", previous: ReportFigures(json: before.json),
        previousCustomers: customers)
    }
    #expect(try compare(fromIndex) == compare(fromFile))
  }

  @Test("the customers of a segment, a group or a numbered cluster are those the per-customer file selects; a cluster by name is the file's to tell")
  func selections() throws {
    let report = try analysed { _ in true }
    let indexed = try indexedCustomers(CustomerGroupsIndex.data(of: report.customers), piece: 1 << 20)
    var stream = CustomerCSVStream()
    let rows = try stream.rows(in: report.csv) + stream.finish()
    let selections = RFMSegment.allCases.map(CustomerSelection.segment) + LifecycleGroup.allCases.map(CustomerSelection.group) + (0..<5).map(CustomerSelection.cluster)
    var nonEmpty = 0
    for selection in selections {
      let expected = Set(rows.filter(selection.contains).map(\.customerId))
      #expect(indexed.identifiers(in: selection) == expected, "\(selection)")
      if !expected.isEmpty { nonEmpty += 1 }
    }
    #expect(nonEmpty >= 8)
    #expect(indexed.identifiers(in: .clusterNamed(report.customers.clusterNames[0])) == nil && indexed.identifiers(in: .cluster(300)) == nil)
  }

  @Test("an index of 150,000 customers of every kind of identifier, read in pieces over several batches, finds each again")
  func manyCustomers() throws {
    func id(_ i: Int) -> String {
      switch i % 5 {
      case 0: "K\(i)"
      case 1: "kunde-\(i)-é中"
      case 2: String(repeating: "x", count: 130 + i % 300) + "\(i)"  // a two-byte length
      case 3: "\"quoted, \(i)\"\n"
      default: "customer-number-\(i)"
      }
    }
    let count = 150_000
    func entry(_ i: Int) -> PreviousCustomers.Entry {
      PreviousCustomers.Entry(segment: UInt8(i % 11), group: UInt8(i % 5), cluster: UInt8(i % 256), oneOrder: i % 3 == 0)
    }
    // The last customer is the first again: the later entry counts, as in the file.
    let index = CustomerGroupsIndex.data(count: count + 1, id: { id($0 % count) }, entry: { $0 == count ? entry(1) : entry($0) })
    #expect(index.count > 4 * CustomerGroupsIndex.Reader.batchBytes)
    let customers = try indexedCustomers(index, piece: 65_536)
    #expect(customers.count == count)
    let ids = (0..<count).map(id) + ["K1", "nobody"]
    let positions = customers.positions(of: CustomerIDs(ids))
    for i in 0..<count {
      let expected = i == 0 ? entry(1) : entry(i)
      let found = customers.entries[Int(positions[i])]
      #expect(positions[i] == Int32(i) && found.segment == expected.segment && found.group == expected.group && found.cluster == expected.cluster && found.oneOrder == expected.oneOrder, "\(i)")
    }
    #expect(positions[count] == -1 && positions[count + 1] == -1)
  }

  @Test("a damaged index is refused, not read as fewer customers", arguments: ["magic", "header", "record", "fewer", "more", "segment", "length"])
  func damaged(_ damage: String) throws {
    let entry = PreviousCustomers.Entry(segment: 3, group: 2, cluster: 1, oneOrder: true)
    let good = CustomerGroupsIndex.data(count: 3, id: { "C\($0)" }, entry: { _ in entry })
    var bytes = [UInt8](good)
    switch damage {
    case "magic": bytes[0] = UInt8(ascii: "X")
    case "header": bytes = Array(bytes.prefix(10))
    case "record": bytes.removeLast()
    case "fewer": bytes[8] = 4
    case "more": bytes[8] = 2
    case "segment": bytes[16 + 3] = 11
    default: bytes[16] = 0
    }
    #expect(throws: CustomerGroupsIndex.FormatError.self) { _ = try indexedCustomers(Data(bytes), piece: 5) }
    #expect(try indexedCustomers(good, piece: 5).count == 3)
  }
}
