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
  public var ids: CustomerIDs
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
    // Columns of a million, filled on every core: alone on one, the kernel's handing out
    // of their pages kept the other core idle.
    var frequency = concurrentArray(repeating: Int32(0), count: n)
    var monetary = concurrentArray(repeating: 0.0, count: n)
    var first = concurrentArray(repeating: Int32.max, count: n)
    var last = concurrentArray(repeating: Int32.min, count: n)
    var days = concurrentArray(repeating: Int32(0), count: n)
    var firstSpend = concurrentArray(repeating: 0.0, count: n)
    var paidDays = concurrentArray(repeating: Int32(0), count: n)
    var paidSpend = concurrentArray(repeating: 0.0, count: n)
    let order: [Int32]
    var maxDay = Int32.min
    if data.isOrderedByCustomerAndDay {
      order = concurrentArray(count: data.orderCount) { Int32($0) }
      // Each customer's sums written straight into the columns by the pass's slices: a
      // table of rows copied into the columns afterwards was 40 MB more and a pass on one core.
      maxDay = withMutableBuffers(&frequency, &monetary) { frequency, monetary in
        withMutableBuffers(&first, &last) { first, last in
          withMutableBuffers(&days, &firstSpend) { days, firstSpend in
            withMutableBuffers(&paidDays, &paidSpend) { paidDays, paidSpend in
              CustomerSums.write(
                data,
                into: CustomerColumns(
                  frequency: frequency, monetary: monetary, first: first, last: last, days: days, firstSpend: firstSpend, paidDays: paidDays,
                  paidSpend: paidSpend))
            }
          }
        }
      }
    } else {
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
      order = Self.ordersByCustomerAndDay(data, counts: frequency)
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
    }
    let lastData = Int(maxDay == .min ? 0 : maxDay)
    let asOf = asOfDay ?? (lastData + 1)
    self.asOfDay = asOf
    self.lastDataDay = lastData
    self.ordersByCustomer = order
    if !frequency.contains(0) {
      // Every customer bought (always so straight from a file): the columns as they are.
      (self.ids, self.frequency, self.monetary, self.firstDay, self.lastDay) = (data.customerIDs, frequency, monetary, first, last)
      (self.purchaseDays, self.firstDaySpend, self.paidRepeatDays, self.paidRepeatSpend) = (days, firstSpend, paidDays, paidSpend)
      self.recency = last.map { Int32(asOf) - $0 }
      self.sourceIndex = Array(0..<Int32(n))
      return
    }
    let keep = (0..<n).filter { frequency[$0] > 0 }
    self.ids = data.customerIDs.selecting(keep)
    self.frequency = keep.map { frequency[$0] }
    self.monetary = keep.map { monetary[$0] }
    self.firstDay = keep.map { first[$0] }
    self.lastDay = keep.map { last[$0] }
    self.purchaseDays = keep.map { days[$0] }
    self.firstDaySpend = keep.map { firstSpend[$0] }
    self.paidRepeatDays = keep.map { paidDays[$0] }
    self.paidRepeatSpend = keep.map { paidSpend[$0] }
    self.recency = keep.map { Int32(asOf) - last[$0] }
    self.sourceIndex = keep.map { Int32($0) }
  }

  /// Order indices sorted by (customer, day), ties in row order — what a stable sort on
  /// that key gives — in linear time: a counting sort on the customer (the counts are known),
  /// then each customer's few orders put in day order by insertion. The customers are cut
  /// into slices of about as many orders, one core a slice: each slice reads every order's
  /// customer in order and places its own, so the result does not depend on the cores.
  static func ordersByCustomerAndDay(_ data: TransactionData, counts: [Int32]) -> [Int32] {
    let start = orderStarts(counts)
    let n = data.orderCount
    let bounds = customerSlices(start: start, orders: n)
    let slices = bounds.count - 1
    var order = [Int32](repeating: 0, count: n)
    order.withUnsafeMutableBufferPointer { order in
      data.orderCustomer.withUnsafeBufferPointer { customerOf in
        data.orderDay.withUnsafeBufferPointer { day in
          start.withUnsafeBufferPointer { start in
            counts.withUnsafeBufferPointer { counts in
              concurrentChunks(slices) { k in
                let (first, end) = (bounds[k], bounds[k + 1])
                guard first < end else { return }
                var next = Array(start[first..<end])
                for o in 0..<n {
                  let c = Int(customerOf[o])
                  guard c >= first && c < end else { continue }
                  order[next[c - first]] = Int32(o)
                  next[c - first] += 1
                }
                for c in first..<end where counts[c] > 1 {
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
          }
        }
      }
    }
    return order
  }

  /// Where each customer's orders start once they run by customer (`counts` per customer),
  /// and one past the last: `counts.count + 1` entries.
  static func orderStarts(_ counts: [Int32]) -> [Int] {
    var start = [Int](repeating: 0, count: counts.count + 1)
    for c in 0..<counts.count { start[c + 1] = start[c] + Int(counts[c]) }
    return start
  }

  /// The first customer of each slice, one slice per core, and `start.count - 1` last: slice
  /// k holds the customers from the first whose orders start at or past k/slices of them.
  static func customerSlices(start: [Int], orders n: Int) -> [Int] {
    let customers = start.count - 1
    let slices = n < 65_536 ? 1 : max(1, activeCores)
    var bounds = [0]
    for k in 1..<slices {
      let target = k * n / slices
      var (low, high) = (bounds[k - 1], customers)
      while low < high {
        let middle = (low + high) / 2
        if start[middle] < target { low = middle + 1 } else { high = middle }
      }
      bounds.append(low)
    }
    bounds.append(customers)
    return bounds
  }
}

/// One customer's figures from orders sorted by customer, then day, read on every core.
private struct CustomerSums {
  var orders: Int32 = 0
  var firstDay: Int32 = .max
  var lastDay: Int32 = .min
  var days: Int32 = 0
  var paidDays: Int32 = 0
  var spend = 0.0
  var firstDaySpend = 0.0
  var paidSpend = 0.0

  /// Writes each customer's sums into `columns` (by customer index; a customer without
  /// orders keeps what its cells hold) and returns the last day seen. Each customer's orders
  /// are one run, in day order: the runs are cut into slices at customer boundaries, one
  /// core a slice, and each customer's amounts are added in the same order as a single pass.
  static func write(_ data: TransactionData, into columns: CustomerColumns) -> Int32 {
    let count = data.orderCount
    let slices = sliceCount(count)
    var latest = [Int32](repeating: .min, count: slices)
    data.orderCustomer.withUnsafeBufferPointer { customer in
      data.orderDay.withUnsafeBufferPointer { day in
        data.orderAmount.withUnsafeBufferPointer { amount in
          latest.withUnsafeMutableBufferPointer { latest in
            // A slice starts at the first order of a customer: none is split between two.
            let cuts = runAlignedCuts(customer, slices: slices)
            concurrentChunks(slices) { k in
              var o = cuts[k]
              let end = cuts[k + 1]
              var maxDay = Int32.min
              while o < end {
                let c = Int(customer[o])
                var row = CustomerSums()
                row.firstDay = day[o]
                while o < end && Int(customer[o]) == c {
                  // One purchase day: its orders, in row order.
                  let today = day[o]
                  var daySpend = 0.0
                  while o < end && Int(customer[o]) == c && day[o] == today {
                    row.orders += 1
                    row.spend += amount[o]
                    if today == row.firstDay { row.firstDaySpend += amount[o] }
                    daySpend += amount[o]
                    o += 1
                  }
                  row.days += 1
                  if today != row.firstDay, daySpend > 0 {
                    row.paidDays += 1
                    row.paidSpend += daySpend
                  }
                  row.lastDay = today
                }
                maxDay = max(maxDay, row.lastDay)
                (columns.frequency[c], columns.monetary[c], columns.first[c], columns.last[c]) = (row.orders, row.spend, row.firstDay, row.lastDay)
                (columns.days[c], columns.firstSpend[c], columns.paidDays[c], columns.paidSpend[c]) =
                  (row.days, row.firstDaySpend, row.paidDays, row.paidSpend)
              }
              latest[k] = maxDay
            }
          }
        }
      }
    }
    return latest.max() ?? .min
  }
}

/// The columns of a customer table being made, written through by the slices of one pass,
/// each slice its own customers' cells.
private struct CustomerColumns: @unchecked Sendable {
  var frequency: UnsafeMutableBufferPointer<Int32>
  var monetary: UnsafeMutableBufferPointer<Double>
  var first: UnsafeMutableBufferPointer<Int32>
  var last: UnsafeMutableBufferPointer<Int32>
  var days: UnsafeMutableBufferPointer<Int32>
  var firstSpend: UnsafeMutableBufferPointer<Double>
  var paidDays: UnsafeMutableBufferPointer<Int32>
  var paidSpend: UnsafeMutableBufferPointer<Double>
}

/// `body` with the buffers of two arrays at once.
func withMutableBuffers<A, B, Result>(
  _ a: inout [A], _ b: inout [B], _ body: (UnsafeMutableBufferPointer<A>, UnsafeMutableBufferPointer<B>) -> Result
) -> Result {
  a.withUnsafeMutableBufferPointer { a in b.withUnsafeMutableBufferPointer { b in body(a, b) } }
}
