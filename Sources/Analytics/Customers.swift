/// One row per customer, in contiguous columns, as of a reference date.
///
/// - recency: days from the last order to the reference date (`as_of − last`), so a
///   customer who bought on the last day of data has recency 1 with the default date.
/// - frequency: number of distinct orders.
/// - monetary: total spend; averageOrderValue = monetary / frequency.
/// - tenure: days from the first order to the reference date.
/// - purchaseDays / repeatValue: the inputs of BG/NBD and Gamma-Gamma as Python's
///   lifetimes defines them with `freq='D'`: orders of one day are one purchase.
public struct CustomerTable: Sendable {
  public var ids: [String]
  public var recency: [Int32]
  public var frequency: [Int32]
  public var monetary: [Double]
  public var firstDay: [Int32]
  public var lastDay: [Int32]
  /// Distinct purchase days.
  public var purchaseDays: [Int32]
  /// Spend on the first purchase day (excluded from the repeat-purchase mean).
  public var firstDaySpend: [Double]
  /// Purchase days after the first with a positive spend, and their spend: the inputs of the
  /// spend model, which leaves out 0.00 purchases and days netted to nothing by returns.
  public var paidRepeatDays: [Int32]
  public var paidRepeatSpend: [Double]
  /// Reference date (day number): recency and tenure are counted up to it.
  public var asOfDay: Int
  /// Last day with an order in the data (the end of the CLV observation period).
  public var lastDataDay: Int
  /// Index of each customer in the `TransactionData` it was built from.
  public var sourceIndex: [Int32]
  /// The orders of the source `TransactionData`, by customer (in row order), then by day.
  public var ordersByCustomer: [Int32]

  /// Number of customers.
  public var count: Int { ids.count }

  /// Average order value of customer `i`.
  @inline(__always) public func averageOrderValue(_ i: Int) -> Double { monetary[i] / Double(frequency[i]) }

  /// For each customer index of the source `TransactionData` (`sourceCount` of them), its
  /// row in this table, or −1 for a customer left out.
  public func rowsBySource(sourceCount: Int) -> [Int32] {
    var row = [Int32](repeating: -1, count: sourceCount)
    for (i, source) in sourceIndex.enumerated() { row[Int(source)] = Int32(i) }
    return row
  }

  /// Days between the first order and the reference date.
  @inline(__always) public func tenure(_ i: Int) -> Int { asOfDay - Int(firstDay[i]) }

  /// Builds the table. Customers without any order are left out (they cannot exist in
  /// `TransactionData`, but may after filtering).
  public init(_ data: TransactionData, asOfDay: Int? = nil) {
    let n = data.customerIDs.count
    var frequency = [Int32](repeating: 0, count: n)
    var monetary = [Double](repeating: 0, count: n)
    var first = [Int32](repeating: .max, count: n)
    var last = [Int32](repeating: .min, count: n)
    var maxDay = Int32.min
    for o in 0..<data.orderCount {
      let c = Int(data.orderCustomer[o])
      let day = data.orderDay[o]
      frequency[c] += 1
      monetary[c] += data.orderAmount[o]
      if day < first[c] { first[c] = day }
      if day > last[c] { last[c] = day }
      if day > maxDay { maxDay = day }
    }
    // Distinct purchase days and the first day's spend, from orders sorted by (customer, day).
    let order = data.isOrderedByCustomerAndDay ? Array(0..<Int32(data.orderCount)) : Self.ordersByCustomerAndDay(data, counts: frequency)
    var days = [Int32](repeating: 0, count: n)
    var firstSpend = [Double](repeating: 0, count: n)
    var paidDays = [Int32](repeating: 0, count: n)
    var paidSpend = [Double](repeating: 0, count: n)
    var previous: (Int32, Int32) = (-1, .min)
    var daySpend = 0.0
    func closeDay() {
      let (c, day) = previous
      if c >= 0, day != first[Int(c)], daySpend > 0 {
        paidDays[Int(c)] += 1
        paidSpend[Int(c)] += daySpend
      }
      daySpend = 0
    }
    for o in order.lazy.map(Int.init) {
      let c = data.orderCustomer[o]
      let day = data.orderDay[o]
      if (c, day) != previous {
        closeDay()
        days[Int(c)] += 1
      }
      if day == first[Int(c)] { firstSpend[Int(c)] += data.orderAmount[o] }
      daySpend += data.orderAmount[o]
      previous = (c, day)
    }
    closeDay()
    let keep = (0..<n).filter { frequency[$0] > 0 }
    let lastData = Int(maxDay == .min ? 0 : maxDay)
    let asOf = asOfDay ?? (lastData + 1)
    self.ids = keep.map { data.customerIDs[$0] }
    self.frequency = keep.map { frequency[$0] }
    self.monetary = keep.map { monetary[$0] }
    self.firstDay = keep.map { first[$0] }
    self.lastDay = keep.map { last[$0] }
    self.purchaseDays = keep.map { days[$0] }
    self.firstDaySpend = keep.map { firstSpend[$0] }
    self.paidRepeatDays = keep.map { paidDays[$0] }
    self.paidRepeatSpend = keep.map { paidSpend[$0] }
    self.recency = keep.map { Int32(asOf) - last[$0] }
    self.asOfDay = asOf
    self.sourceIndex = keep.map { Int32($0) }
    self.lastDataDay = lastData
    self.ordersByCustomer = order
  }

  /// Order indices sorted by (customer, day), ties in row order — what a stable sort on
  /// that key gives — in linear time: a counting sort on the customer (the counts are known),
  /// then each customer's few orders put in day order by insertion.
  static func ordersByCustomerAndDay(_ data: TransactionData, counts: [Int32]) -> [Int32] {
    var start = [Int](repeating: 0, count: counts.count + 1)
    for c in 0..<counts.count { start[c + 1] = start[c] + Int(counts[c]) }
    var next = start
    var order = [Int32](repeating: 0, count: data.orderCount)
    for o in 0..<data.orderCount {
      let c = Int(data.orderCustomer[o])
      order[next[c]] = Int32(o)
      next[c] += 1
    }
    data.orderDay.withUnsafeBufferPointer { day in
      order.withUnsafeMutableBufferPointer { order in
        for c in 0..<counts.count where counts[c] > 1 {
          let (lower, upper) = (start[c], start[c + 1])
          if upper - lower > 64 {
            // A customer with many orders: a stable sort of its slice.
            let sorted = order[lower..<upper].sorted { day[Int($0)] != day[Int($1)] ? day[Int($0)] < day[Int($1)] : $0 < $1 }
            for (k, o) in sorted.enumerated() { order[lower + k] = o }
            continue
          }
          for i in lower + 1..<upper {
            let o = order[i]
            var j = i
            while j > lower && day[Int(order[j - 1])] > day[Int(o)] {
              order[j] = order[j - 1]
              j -= 1
            }
            order[j] = o
          }
        }
      }
    }
    return order
  }
}
