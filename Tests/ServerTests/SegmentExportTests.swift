import Analytics
import Foundation
import GRPCCore
import Testing

@testable import Server

/// The segment export reads the per-customer file that Analytics wrote, by column name.
@Suite("Segment export")
struct SegmentExportTests {
  /// 60 customers with 1–6 orders over two years, one with a comma and a formula in its id.
  static let customers: CustomerResults = {
    var csv = "customer_id,order_id,order_date,amount\n"
    for c in 0..<60 {
      let id = c == 7 ? "\"=HYPERLINK(\"\"x\"\"),7\"" : "C\(c)"
      for o in 0..<(1 + c % 6) {
        csv += "\(id),O\(c)-\(o),2024-\(String(format: "%02d", 1 + (c + o * 5) % 12))-\(String(format: "%02d", 1 + (c * 3 + o) % 28)),\(10 + (c * 17 + o * 3) % 300).50\n"
      }
    }
    return try! Analyzer.run(try! TransactionIngestor.ingest(Array(csv.utf8))).customers
  }()

  func export(_ name: String, pieceBytes: Int = 1 << 20) async throws -> (rows: [String], kept: Int) {
    var export = try SegmentExport(segment: name)
    var out = Data()
    try await export.run(csv: Data(Self.customers.csv().utf8), pieceBytes: pieceBytes) { out.append($0) }
    return (String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init), export.rowsKept)
  }

  @Test("read in pieces cut anywhere (inside a header, a record, a quoted field), the export is the same", arguments: [1, 2, 7, 64, 1000])
  func pieces(_ size: Int) async throws {
    let group = Self.customers.group[Self.customers.table.ids.firstIndex(of: "=HYPERLINK(\"x\"),7")!]
    for name in [group.rawValue, "cluster:0", Self.customers.segment[0].rawValue] {
      let whole = try await export(name)
      let cut = try await export(name, pieceBytes: size)
      #expect(cut.rows == whole.rows && cut.kept == whole.kept, "\(name) in pieces of \(size)")
    }
  }

  @Test("a record assembler hands out whole records only, a line break in quotes staying inside")
  func assembler() {
    var a = CustomerCSVReader.RecordAssembler()
    #expect(a.take(Data("id,x\n\"a\nb".utf8)) == Data("id,x\n".utf8))
    #expect(a.take(Data("\",1\nc,".utf8)) == Data("\"a\nb\",1\n".utf8))
    #expect(a.take(Data("2".utf8)) == nil)
    #expect(a.finish() == Data("c,2".utf8))
    #expect(a.finish() == nil)
  }

  @Test("each way of naming customers selects exactly the customers the results hold")
  func selections() async throws {
    let c = Self.customers
    let n = c.table.count
    let top = c.clusterNames[0]
    let cases: [(String, Int)] = [
      ("lost", (0..<n).filter { c.group[$0] == .lost }.count),
      ("at risk", (0..<n).filter { c.group[$0] == .atRisk }.count),
      (c.segment[0].rawValue.uppercased(), (0..<n).filter { c.segment[$0] == c.segment[0] }.count),
      ("cluster:0", (0..<n).filter { c.cluster[$0] == 0 }.count),
      (top.description, (0..<n).filter { c.clusterNames[Int(c.cluster[$0])] == top }.count),
    ]
    for (name, expected) in cases where expected > 0 {
      let (rows, kept) = try await export(name)
      #expect(kept == expected, "\(name)")
      #expect(rows.first == CustomerColumn.allCases.map(\.rawValue).joined(separator: ","))
      #expect(rows.count == expected + 1, "\(name)")
    }
  }

  @Test("a quoted id with a comma stays one row, written as the job wrote it")
  func quoting() async throws {
    let group = Self.customers.group[Self.customers.table.ids.firstIndex(of: "=HYPERLINK(\"x\"),7")!]
    let (rows, _) = try await export(group.rawValue)
    #expect(rows.contains { $0.hasPrefix("\"'=HYPERLINK(\"\"x\"\"),7\",") })
  }

  @Test("an unknown name is NOT_FOUND and lists the names this report has")
  func unknown() async throws {
    let error = await #expect(throws: RPCError.self) { try await export("VIP") }
    #expect(error?.code == .notFound)
    #expect(error?.message.contains("valid names:") == true && error?.message.contains("cluster:0 (") == true && error?.message.contains("lost") == true)
  }

  @Test("names that are empty or too long are refused before any reading", arguments: ["", "   ", String(repeating: "x", count: 201)])
  func refused(name: String) {
    let error = #expect(throws: RPCError.self) { try SegmentExport(segment: name) }
    #expect(error?.code == .invalidArgument)
  }
}
