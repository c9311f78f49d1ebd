import Foundation

/// An analysis set beside the previous one of its series: how the headline figures moved,
/// where each customer went between segments and lifecycle groups, what became of the
/// customers the previous report's actions targeted, and every report's figures so far.
/// Definitions in docs/metrics.md ("Since the last report").
public struct Comparison: Sendable, Codable, Equatable {
  public var previousJob: String
  public var previousAsOf: String
  /// Days from the previous reference date to this one.
  public var days: Int
  public var kpiChanges: [KPIChange]
  public var segmentMigration: SegmentMigration
  public var actionFollowUp: [ActionFollowUp]
  /// The series' reports, oldest first, this one last: their reference date and figures.
  public var trend: [TrendPoint]

  /// One figure before and after; `change` is after − before.
  public struct KPIChange: Sendable, Codable, Equatable {
    public var id: SeriesFigure
    public var unit: FigureUnit
    public var before: Double?
    public var after: Double?
    public var change: Double?
  }

  /// Customers by group before (rows) and after (columns).
  public struct SegmentMigration: Sendable, Codable, Equatable {
    public var rfm: Migration
    public var lifecycle: Migration
  }

  /// `counts[i][j]`: customers in group `rows[i]` in the previous report and `columns[j]`
  /// in this one. The last row, `Comparison.notInPrevious`, holds the customers the
  /// previous report did not have. `absent[i]`: customers of `rows[i]` this report does
  /// not have (their purchases left the data); a row's counts plus its absent make the
  /// previous report's group size.
  public struct Migration: Sendable, Codable, Equatable {
    public var rows: [String]
    public var columns: [String]
    public var counts: [[Int]]
    public var absent: [Int]
  }

  /// What became of the customers an action of the previous report targeted.
  public struct ActionFollowUp: Sendable, Codable, Equatable {
    public var action: String
    public var segments: [String]
    /// Customers of the action's groups in the previous report.
    public var targeted: Int
    /// Of those, the customers with an order on or after the previous reference date.
    public var orderedAgain: Int
    /// `orderedAgain / targeted`.
    public var rate: Double?
    public var kpi: String
    /// The action's indicator then, now, and the target it set.
    public var kpiBefore: Double?
    public var kpiAfter: Double?
    public var kpiTarget: Double
    /// Whether `kpiAfter` reached `kpiTarget`; nil when the data cannot tell (a survey's
    /// response rate).
    public var met: Bool?
  }

  /// One report of the series.
  public struct TrendPoint: Sendable, Codable, Equatable {
    public var job: String
    public var asOf: String
    public var values: SeriesValues
  }

  /// The label of the row of customers the previous report did not have.
  public static let notInPrevious = "not_in_previous"
  /// Reports kept in `trend`: a weekly series keeps two years.
  public static let longestTrend = 104
}

/// The figures a series follows from report to report, as `kpi_changes` ids.
public enum SeriesFigure: String, CaseIterable, Sendable, Codable {
  case customers, orders, revenue
  case averageOrderValue = "average_order_value"
  case revenuePerCustomer = "revenue_per_customer"
  case ordersPerCustomerPerYear = "orders_per_customer_per_year"
  case repeatPurchaseRate = "repeat_purchase_rate"
  case oneTimeBuyerRate = "one_time_buyer_rate"
  case engagedShare = "engaged_share"
  case inactiveCustomers = "inactive_customers"
  case lastMonthChurn = "last_month_churn"
  case predictedCLVMean = "predicted_clv_mean"

  public var unit: FigureUnit {
    switch self {
    case .customers, .orders, .inactiveCustomers, .ordersPerCustomerPerYear: .count
    case .revenue, .averageOrderValue, .revenuePerCustomer, .predictedCLVMean: .currency
    case .repeatPurchaseRate, .oneTimeBuyerRate, .engagedShare, .lastMonthChurn: .share
    }
  }

  /// Whether a fall is good news.
  public var lowerIsBetter: Bool { [.oneTimeBuyerRate, .inactiveCustomers, .lastMonthChurn].contains(self) }
}

/// A report's `SeriesFigure`s, each nil when the report did not have it. Named fields, not a
/// dictionary: the JSON key strategies would rename a dictionary's keys.
public struct SeriesValues: Sendable, Codable, Equatable {
  public var customers: Double?
  public var orders: Double?
  public var revenue: Double?
  public var averageOrderValue: Double?
  public var revenuePerCustomer: Double?
  public var ordersPerCustomerPerYear: Double?
  public var repeatPurchaseRate: Double?
  public var oneTimeBuyerRate: Double?
  public var engagedShare: Double?
  public var inactiveCustomers: Double?
  public var lastMonthChurn: Double?
  public var predictedClvMean: Double?

  public subscript(figure: SeriesFigure) -> Double? {
    get {
      switch figure {
      case .customers: customers
      case .orders: orders
      case .revenue: revenue
      case .averageOrderValue: averageOrderValue
      case .revenuePerCustomer: revenuePerCustomer
      case .ordersPerCustomerPerYear: ordersPerCustomerPerYear
      case .repeatPurchaseRate: repeatPurchaseRate
      case .oneTimeBuyerRate: oneTimeBuyerRate
      case .engagedShare: engagedShare
      case .inactiveCustomers: inactiveCustomers
      case .lastMonthChurn: lastMonthChurn
      case .predictedCLVMean: predictedClvMean
      }
    }
    set {
      switch figure {
      case .customers: customers = newValue
      case .orders: orders = newValue
      case .revenue: revenue = newValue
      case .averageOrderValue: averageOrderValue = newValue
      case .revenuePerCustomer: revenuePerCustomer = newValue
      case .ordersPerCustomerPerYear: ordersPerCustomerPerYear = newValue
      case .repeatPurchaseRate: repeatPurchaseRate = newValue
      case .oneTimeBuyerRate: oneTimeBuyerRate = newValue
      case .engagedShare: engagedShare = newValue
      case .inactiveCustomers: inactiveCustomers = newValue
      case .lastMonthChurn: lastMonthChurn = newValue
      case .predictedCLVMean: predictedClvMean = newValue
      }
    }
  }
}

/// The parts of a report's JSON a later report of its series reads, decoded leniently: a
/// report written by an earlier version of Fidelis still compares.
public struct ReportFigures: Sendable, Decodable {
  public var asOf: String
  var customers: Int?
  var orders: Int?
  var revenue: Double?
  var kpis: KPIs?
  var clv: CLV?
  var lifecycle: Lifecycle?
  var actions: [ActionEntry]?
  var comparison: PastComparison?

  struct KPIs: Sendable, Decodable {
    var averageOrderValue: Double?
    var revenuePerCustomer: Double?
    var ordersPerCustomerPerYear: Double?
    var repeatPurchaseRate: Double?
    var oneTimeBuyerRate: Double?
    var engagedShare: Double?
    var inactiveCustomers: Int?
    var lastMonthChurn: Double?
  }
  struct CLV: Sendable, Decodable { var predictedMean: Double? }
  struct Lifecycle: Sendable, Decodable { var atRiskDays: Int? }
  struct ActionEntry: Sendable, Decodable {
    var id: String
    var segments: [String]
    var targetCustomers: Int?
    var kpi: String
    var kpiCurrent: Double?
    var kpiTarget: Double
  }
  struct PastComparison: Sendable, Decodable { var trend: [Comparison.TrendPoint]? }

  /// Reads a report's JSON file.
  public init(json: Data) throws {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    self = try decoder.decode(ReportFigures.self, from: json)
  }

  /// The figures of an analysis, as a later report will read them back.
  public init(_ result: AnalysisResult) throws {
    try self.init(json: result.jsonData())
  }

  /// The value of `figure`; nil when the report did not have it.
  public func value(_ figure: SeriesFigure) -> Double? {
    switch figure {
    case .customers: customers.map(Double.init)
    case .orders: orders.map(Double.init)
    case .revenue: revenue
    case .averageOrderValue: kpis?.averageOrderValue
    case .revenuePerCustomer: kpis?.revenuePerCustomer
    case .ordersPerCustomerPerYear: kpis?.ordersPerCustomerPerYear
    case .repeatPurchaseRate: kpis?.repeatPurchaseRate
    case .oneTimeBuyerRate: kpis?.oneTimeBuyerRate
    case .engagedShare: kpis?.engagedShare
    case .inactiveCustomers: kpis?.inactiveCustomers.map(Double.init)
    case .lastMonthChurn: kpis?.lastMonthChurn
    case .predictedCLVMean: clv?.predictedMean
    }
  }

  /// Every figure the report has.
  var values: SeriesValues {
    var values = SeriesValues()
    for figure in SeriesFigure.allCases { values[figure] = value(figure) }
    return values
  }
}

/// Each customer of a previous report as its per-customer file (`CustomerColumn`) gave it.
public struct PreviousCustomers: Sendable {
  /// Per customer: RFM segment, lifecycle group and cluster (indexes), one order or more.
  struct Entry: Sendable {
    var segment: UInt8
    var group: UInt8
    var cluster: UInt8
    var oneOrder: Bool
  }
  /// The identifiers read, by their bytes: a million customers are added, then looked up
  /// once each, and a dictionary of strings spent most of the comparison hashing them and
  /// growing.
  private var identifiers = ByteInterner()
  /// Each identifier's entry, at its index among `identifiers`.
  private(set) var entries: [Entry] = []

  /// No customer (a report before any).
  public init() {}

  /// Customers read.
  public var count: Int { entries.count }

  /// The position among `entries` of each of `ids`, −1 for a customer the previous report
  /// did not have; looked up on every core: a million lookups in a table of a million, each
  /// mostly a wait on memory, were a quarter of a second on one.
  func positions(of ids: CustomerIDs) -> [Int32] {
    concurrentArray(count: ids.count) { i in
      ids.withUTF8(i) { bytes in identifiers.index(of: bytes, hash: hashBytes(bytes)).map { Int32($0) } ?? -1 }
    }
  }

  /// Sets the entry of the customer whose identifier is `id`'s bytes (the last one given
  /// counts, as in a dictionary); `hash` is the identifier's `hashBytes`.
  mutating func set(_ entry: Entry, for id: UnsafeBufferPointer<UInt8>, hash: UInt64) {
    let index = identifiers.intern(id, hash: hash).index
    if index == entries.count { entries.append(entry) } else { entries[index] = entry }
  }

  /// Makes room for `count` customers: a reader that knows how many are coming grows the
  /// table once, not a dozen times.
  mutating func reserve(_ count: Int) {
    identifiers.reserve(count)
    entries.reserveCapacity(count)
  }

  /// Adds `count` customers in order, the r-th with entry `entry(r)` and the identifier
  /// whose bytes `identifier(r, body)` lends to `body` (a string's last only that long).
  /// The identifiers are hashed on every core first, and each table slot starts loading a
  /// few customers ahead: most of an insertion in a table of a million is a wait on memory.
  mutating func add(_ count: Int, entry: (Int) -> Entry, identifier: (Int, (UnsafeBufferPointer<UInt8>) -> Void) -> Void) {
    let hashes = concurrentArray(count: count, threadsFrom: 8192) { r in
      var hash: UInt64 = 0
      identifier(r) { hash = hashBytes($0) }
      return hash
    }
    let ahead = 8
    for r in 0..<count {
      if r + ahead < count { _ = identifiers.prefetch(hashes[r + ahead], step: 0) }
      let (customer, hash) = (entry(r), hashes[r])
      identifier(r) { set(customer, for: $0, hash: hash) }
    }
  }

  private static func withBytes<Result>(_ id: String, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
    var id = id
    return id.withUTF8(body)
  }

  /// Reads a per-customer CSV a piece at a time.
  public struct Reader {
    private var stream = CustomerCSVStream()
    private var customers = PreviousCustomers()
    private var pieces = 0

    public init() {}

    /// Reads the next piece of the file.
    public mutating func consume(_ piece: Data) throws {
      try piece.withUnsafeBytes { try consume($0.bindMemory(to: UInt8.self)) }
    }

    /// Reads the next piece of the file, in place.
    public mutating func consume(_ piece: UnsafeBufferPointer<UInt8>) throws {
      pieces += 1
      add(try stream.rows(in: piece))
    }

    /// Ends the file and returns its customers.
    public mutating func finish() throws -> PreviousCustomers {
      add(try stream.finish())
      guard pieces > 0 else { throw CSVFormatError(line: 1, reason: "the previous report's customer file is empty") }
      return customers
    }

    /// Adds rows in order.
    private mutating func add(_ rows: [CustomerRow]) {
      customers.add(rows.count) { r in
        let row = rows[r]
        return Entry(segment: UInt8(row.segment.index), group: UInt8(row.group.index), cluster: UInt8(clamping: row.cluster), oneOrder: row.frequency == 1)
      } identifier: { r, body in
        PreviousCustomers.withBytes(rows[r].customerId, body)
      }
    }
  }

  /// The identifiers of the customers `selection` holds; nil for what the index does not
  /// keep (a cluster by name, or numbered past 254), which the per-customer file tells.
  public func identifiers(in selection: CustomerSelection) -> Set<String>? {
    let matches: (Entry) -> Bool
    switch selection {
    case .segment(let segment):
      let index = UInt8(segment.index)
      matches = { $0.segment == index }
    case .group(let group):
      let index = UInt8(group.index)
      matches = { $0.group == index }
    case .cluster(let id):
      guard id < Int(UInt8.max) else { return nil }
      matches = { Int($0.cluster) == id }
    case .clusterNamed:
      return nil
    }
    var ids = Set<String>()
    for (index, entry) in entries.enumerated() where matches(entry) {
      ids.insert(identifiers.withKey(index) { String(decoding: $0, as: UTF8.self) })
    }
    return ids
  }

  /// Whether the customer `entry` belonged to `group` in the previous report.
  static func belongs(_ entry: Entry, to group: CustomerGroup) -> Bool {
    switch group {
    case .lifecycle(let g): entry.group == UInt8(g.index)
    case .oneTimeBuyers: entry.oneOrder
    case .oneTimeBuyersNotLost: entry.oneOrder && entry.group != UInt8(LifecycleGroup.lost.index)
    case .cluster(let id): Int(entry.cluster) == id
    }
  }
}

extension Comparison {
  /// Compares an analysis (`result`, `customers`, of job `job`) with the previous report
  /// of its series: `previous` (its JSON) and `previousCustomers` (its per-customer file),
  /// made by job `previousJob`.
  public static func make(
    job: String, result: AnalysisResult, customers: CustomerResults, previousJob: String, previous: ReportFigures, previousCustomers: PreviousCustomers
  ) throws -> Comparison {
    let current = try ReportFigures(result)
    let before = parseISODate(previous.asOf)
    let since = before ?? Int.max
    let changes = SeriesFigure.allCases.map { f in
      let (b, a) = (previous.value(f), current.value(f))
      return KPIChange(id: f, unit: f.unit, before: b, after: a, change: b.flatMap { b in a.map { $0 - b } })
    }
    // Where each customer went, and which of the previous report's customers this one has.
    let (segments, groups) = (RFMSegment.allCases.count, LifecycleGroup.allCases.count)
    var rfm = Array(repeating: Array(repeating: 0, count: segments), count: segments + 1)
    var lifecycle = Array(repeating: Array(repeating: 0, count: groups), count: groups + 1)
    var previousSegmentSize = Array(repeating: 0, count: segments)
    var previousGroupSize = Array(repeating: 0, count: groups)
    for entry in previousCustomers.entries {
      previousSegmentSize[Int(entry.segment)] += 1
      previousGroupSize[Int(entry.group)] += 1
    }
    let actions = previous.actions ?? []
    let targets = actions.map { $0.segments.compactMap(CustomerGroup.init) }
    var targeted = Array(repeating: 0, count: actions.count)
    var orderedAgain = Array(repeating: 0, count: actions.count)
    var stillActive = Array(repeating: 0, count: actions.count)
    for entry in previousCustomers.entries {
      for (k, groups) in targets.enumerated() where groups.contains(where: { PreviousCustomers.belongs(entry, to: $0) }) { targeted[k] += 1 }
    }
    let atRiskDays = result.lifecycle.atRiskDays
    let table = customers.table
    let previousPosition = previousCustomers.positions(of: table.ids)
    for i in 0..<table.count {
      let (segment, group) = (customers.segment[i].index, customers.group[i].index)
      let position = Int(previousPosition[i])
      guard position >= 0 else {
        rfm[segments][segment] += 1
        lifecycle[groups][group] += 1
        continue
      }
      let entry = previousCustomers.entries[position]
      rfm[Int(entry.segment)][segment] += 1
      lifecycle[Int(entry.group)][group] += 1
      let ordered = Int(table.lastDay[i]) >= since
      let active = Int(table.recency[i]) <= atRiskDays
      for (k, groups) in targets.enumerated() where groups.contains(where: { PreviousCustomers.belongs(entry, to: $0) }) {
        if ordered { orderedAgain[k] += 1 }
        if active { stillActive[k] += 1 }
      }
    }
    func migration(_ counts: [[Int]], previousSizes: [Int], names: [String]) -> Migration {
      let absent = previousSizes.enumerated().map { $1 - counts[$0].reduce(0, +) } + [0]
      return Migration(rows: names + [notInPrevious], columns: names, counts: counts, absent: absent)
    }
    let followUp = actions.enumerated().map { k, action in
      let rate = targeted[k] > 0 ? Double(orderedAgain[k]) / Double(targeted[k]) : nil
      let after: Double?
      switch KPIID(rawValue: action.kpi) {
      case .reactivationRate: after = rate
      case .activeShare: after = targeted[k] > 0 ? Double(stillActive[k]) / Double(targeted[k]) : nil
      case .averageOrderValue: after = result.kpis.averageOrderValue
      case .repeatPurchaseRate: after = result.kpis.repeatPurchaseRate
      case .repeatRateWithoutContact: after = result.insights.serviceContact?.withoutContact.repeatRate
      default: after = nil
      }
      return ActionFollowUp(
        action: action.id, segments: action.segments, targeted: targeted[k], orderedAgain: orderedAgain[k], rate: rate, kpi: action.kpi,
        kpiBefore: action.kpiCurrent, kpiAfter: after, kpiTarget: action.kpiTarget, met: after.map { $0 >= action.kpiTarget })
    }
    // A compared report's trend ends with itself.
    var trend = previous.comparison?.trend ?? []
    if trend.last?.job != previousJob { trend.append(TrendPoint(job: previousJob, asOf: previous.asOf, values: previous.values)) }
    trend.append(TrendPoint(job: job, asOf: result.asOf, values: current.values))
    if trend.count > longestTrend { trend.removeFirst(trend.count - longestTrend) }
    return Comparison(
      previousJob: previousJob, previousAsOf: previous.asOf, days: before.map { (parseISODate(result.asOf) ?? $0) - $0 } ?? 0, kpiChanges: changes,
      segmentMigration: SegmentMigration(
        rfm: migration(rfm, previousSizes: previousSegmentSize, names: RFMSegment.allCases.map(\.rawValue)),
        lifecycle: migration(lifecycle, previousSizes: previousGroupSize, names: LifecycleGroup.allCases.map(\.rawValue))),
      actionFollowUp: followUp, trend: trend)
  }
}

extension RFMSegment {
  /// The segment's position among `allCases`: its row and column in the migration tables,
  /// and its name's in the per-customer file's writer. A switch, not a search of
  /// `allCases`: it is taken once per customer (a test holds it to `allCases`' order).
  var index: Int {
    switch self {
    case .champions: 0
    case .loyal: 1
    case .potentialLoyalist: 2
    case .newCustomers: 3
    case .promising: 4
    case .needAttention: 5
    case .aboutToSleep: 6
    case .atRisk: 7
    case .cantLose: 8
    case .hibernating: 9
    case .lost: 10
    }
  }
}

extension LifecycleGroup {
  /// The group's position among `allCases`, as `RFMSegment.index`.
  var index: Int {
    switch self {
    case .loyal: 0
    case .potential: 1
    case .new: 2
    case .atRisk: 3
    case .lost: 4
    }
  }
}
