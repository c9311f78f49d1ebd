import Foundation
import Testing

@testable import Analytics

/// Files held and a batch, read in chunks of `chunk` bytes as the store hands them out.
private struct Files {
  var held: [[UInt8]]
  var batch: [UInt8]
  var chunk = 7

  init(held: [String], batch: String, chunk: Int = 7) {
    self.held = held.map { Array($0.utf8) }
    self.batch = Array(batch.utf8)
    self.chunk = chunk
  }

  func read(_ file: Int, _ seq: Int) -> Data? {
    let bytes = file < held.count ? held[file] : batch
    let start = seq * chunk
    guard start < bytes.count else { return nil }
    return Data(bytes[start..<min(bytes.count, start + chunk)])
  }

  func plan(skipped: [ByteRanges]? = nil, columns: [String: String] = [:]) throws -> AppendPlan {
    try planAppend(heldSkipped: skipped ?? held.map { _ in ByteRanges() }, read: read, columns: columns)
  }

  /// The new version's bytes as the coordinator streams them (`VersionFile`, chunk by chunk).
  func content(_ plan: AppendPlan) -> String {
    let files = held + [batch]
    var out: [UInt8] = []
    for (i, bytes) in files.enumerated() {
      let isBatch = i == held.count
      let file = VersionFile(
        position: i, isLast: isBatch, headerBytes: isBatch ? plan.batchLayout.headerBytes : plan.heldHeaderBytes[i],
        skipped: isBatch ? plan.batchSkipped : plan.heldSkipped[i], endsWithBreak: isBatch ? plan.batchEndsWithBreak : plan.heldEndsWithBreak[i])
      var seq = 0
      while seq * chunk < bytes.count {
        let window = Int64(seq * chunk)..<Int64(min(bytes.count, (seq + 1) * chunk))
        for piece in file.kept(in: window) { out += bytes[Int(piece.lowerBound)..<Int(piece.upperBound)] }
        seq += 1
      }
      if file.addsLineBreak { out.append(UInt8(ascii: "\n")) }
    }
    return String(decoding: out, as: UTF8.self)
  }
}

@Suite("Dataset batches")
struct DatasetBatchTests {
  @Test("a batch whose quote is never closed is refused at the line where its record starts", arguments: [false, true])
  func unclosedQuote(withOrderIDs: Bool) {
    let header = withOrderIDs ? "customer_id,order_id,order_date,amount\n" : "customer_id,order_date,amount\n"
    func line(_ c: String, _ day: Int, _ amount: String) -> String { withOrderIDs ? "\(c),O\(c),2024-01-0\(day),\(amount)\n" : "\(c),2024-01-0\(day),\(amount)\n" }
    let held = header + line("A", 5, "3")
    var batch = header + line("B", 6, "4") + line("C", 7, "\"5")
    let rest = String(repeating: line("D", 8, "6"), count: 6 << 20 / 20)
    batch += rest
    let error = #expect(throws: CSVFormatError.self) { _ = try Files(held: [held], batch: batch, chunk: 1 << 20).plan() }
    // The coordinator passes the reason on alone: it names the line itself.
    #expect(error?.line == 3 && error?.reason.contains("starting on line 3 runs past 4 MiB") == true)
  }

  @Test("byte ranges merge, unite, answer membership, keep the rest of a window and survive their encoding")
  func byteRanges() throws {
    var a = ByteRanges()
    a.append(0..<3)
    a.append(3..<5)
    a.append(8..<10)
    #expect(a.ranges == [0..<5, 8..<10])
    var b = ByteRanges()
    b.append(4..<9)
    b.append(20..<21)
    #expect(a.union(b).ranges == [0..<10, 20..<21])
    #expect(a.contains(4) && !a.contains(5) && a.contains(9) && !a.contains(10))
    #expect(a.kept(in: 2..<12) == [5..<8, 10..<12])
    #expect(a.kept(in: 0..<5).isEmpty)
    #expect(a.byteCount == 7)
    #expect(ByteRanges(encoded: a.encoded) == a)
    // Overlapping or unsorted bounds are not an encoding of ranges.
    var bad = Data()
    for v: Int64 in [5, 9, 2, 3] { withUnsafeBytes(of: v.littleEndian) { bad.append(contentsOf: $0) } }
    #expect(ByteRanges(encoded: bad) == nil)
    #expect(ByteRanges(encoded: Data([1, 2, 3])) == nil)
  }

  @Test("with order ids, a batch line whose order the dataset holds is skipped; the version reads each line once", arguments: [1, 5, 64, 4096])
  func orderIds(chunk: Int) throws {
    let held = "customer_id,order_id,order_date,amount\nA,O1,2024-01-01,10\nB,O2,2024-01-02,20\nA,O3,2024-01-03,5\n"
    // O2 and O3 again (O3 quoted), O4 new; O4 has two lines, one with a quoted comma.
    let batch = "customer_id,order_id,order_date,amount\nB,O2,2024-01-02,20\nA,\"O3\",2024-01-03,5\nC,O4,2024-01-04,7\n\"C, jr\",O4,2024-01-04,1\n"
    let files = Files(held: [held], batch: batch, chunk: chunk)
    let plan = try files.plan()
    #expect(plan.rule == .orderId)
    #expect(plan.linesSkipped == 2 && plan.linesAdded == 2)
    let expected = held + "C,O4,2024-01-04,7\n\"C, jr\",O4,2024-01-04,1\n"
    #expect(files.content(plan) == expected)
    #expect(plan.contentBytes(heldSizes: [Int64(held.utf8.count)], batchSize: Int64(batch.utf8.count)) == Int64(expected.utf8.count))
  }

  @Test("CRLF lines, a byte-order mark, a quoted line break, blank lines and a file without a final line break")
  func awkwardFiles() throws {
    let bom = "\u{FEFF}"
    let held = bom + "customer_id,order_id,order_date,amount,note\r\nA,O1,2024-01-01,3,\"two\r\nlines\"\r\n\r\nB,O2,2024-01-02,4,x"
    let batch = bom + "customer_id,order_id,order_date,amount,note\r\nB,O2,2024-01-02,4,x\r\nC,O3,2024-01-03,5,y\r\n"
    let files = Files(held: [held], batch: batch, chunk: 3)
    let plan = try files.plan()
    #expect(plan.linesSkipped == 1 && plan.linesAdded == 1)
    #expect(plan.heldEndsWithBreak == [false])
    // The held file gets a line break; the batch's header and its copy of O2 are left out.
    #expect(files.content(plan) == held + "\nC,O3,2024-01-03,5,y\r\n")
    // The ingestor reads the version as the three distinct orders.
    let data = try TransactionIngestor.ingest(Array(files.content(plan).utf8), options: IngestOptions(latestDay: 30_000))
    #expect(data.orderCustomer.count == 3)
    #expect(data.orderAmount.reduce(0, +) == 12)
  }

  @Test("without order ids, the batch's days replace the same days held, dated in the file's day order")
  func batchDays() throws {
    let held = "customer,date,amount\nA,30/12/2023,1\nB,01/01/2024,2\nA,02/01/2024,3\nC,02/01/2024,4\nD,not a date,5\n"
    // The later export covers 2 and 3 January: its 2 January is the truth (C's line is gone).
    let batch = "customer,date,amount\nA,02/01/2024,3\nE,03/01/2024,6\n"
    let files = Files(held: [held], batch: batch)
    let plan = try files.plan()
    #expect(plan.rule == .batchDays)
    #expect(plan.linesReplaced == 2 && plan.daysReplaced == 1 && plan.linesAdded == 2)
    #expect(plan.replacedFrom == daysFromCivil(year: 2024, month: 1, day: 2) && plan.replacedThrough == plan.replacedFrom)
    #expect(files.content(plan) == "customer,date,amount\nA,30/12/2023,1\nB,01/01/2024,2\nD,not a date,5\nA,02/01/2024,3\nE,03/01/2024,6\n")
  }

  @Test("lines an earlier version left out stay out, and are not matched again")
  func earlierSkips() throws {
    let first = "customer,order,date\nA,O1,2024-01-01\nB,O2,2024-01-02\n"
    let second = "customer,order,date\nB,O2,2024-01-02\nC,O3,2024-01-03\n"
    let third = "customer,order,date\nC,O3,2024-01-03\nD,O4,2024-01-04\n"
    let step1 = try Files(held: [first], batch: second).plan()
    let files = Files(held: [first, second], batch: third)
    let step2 = try files.plan(skipped: [step1.heldSkipped[0], step1.batchSkipped])
    #expect(step2.linesSkipped == 1 && step2.linesAdded == 1)
    #expect(files.content(step2) == first + "C,O3,2024-01-03\nD,O4,2024-01-04\n")
  }

  @Test("a batch with other columns, another order of them or another separator is refused with the reason")
  func layouts() throws {
    let held = "customer_id,order_id,order_date,amount\nA,O1,2024-01-01,1\n"
    let cases: [(String, String)] = [
      ("customer_id,order_id,order_date\nA,O2,2024-01-02\n", "columns"),
      ("order_id,customer_id,order_date,amount\nO2,A,2024-01-02,1\n", "same order"),
      ("customer_id;order_id;order_date;amount\nA;O2;2024-01-02;1\n", "separates"),
      ("", "no complete header"),
    ]
    for (batch, reason) in cases {
      #expect {
        try Files(held: [held], batch: batch).plan()
      } throws: { error in
        (error as? CSVFormatError)?.reason.contains(reason) == true
      }
    }
    // Names are compared as the ingestor reads them: case and spaces do not matter.
    #expect(try Files(held: [held], batch: "Customer ID,Order ID,Order Date,Amount\nA,O2,2024-01-02,1\n").plan().linesAdded == 1)
    // A column named by hand.
    let plan = try Files(held: ["who,ticket,when\nA,T1,2024-01-01\n"], batch: "who,ticket,when\nA,T1,2024-01-01\n").plan(columns: ["order": "ticket", "date": "when"])
    #expect(plan.rule == .orderId && plan.linesSkipped == 1)
  }
}
